// The regions list (type, size, comments, delete), the legend of defect classes (colour, number
// key, visibility, the class new regions get) and the image toolbar.

import { classKey, cssColor, legendClasses } from "./classes.js";
import { termChip, typeahead } from "./typeahead.js";
import { h, icon, termLabel, gettext } from "./text.js";
import { withRegion } from "./store.js";

export function renderRegions({ container, store, viewer, urls, editable, comments }) {
  let typingFor = null; // the uid whose defect type is being chosen

  function assign(uid, term) {
    // A region whose type changes is a new region on the server; its mask stays the same.
    store.update((state) => withRegion(state, uid, (r) => ({ ...r, id: null, defect_type: term })));
    typingFor = null;
    update();
  }

  function update() {
    const state = store.state;
    container.replaceChildren();
    if (!state.regions.length) {
      container.append(h("p", { class: "muted small" }, gettext("No regions. Draw one with the tools above the image.")));
    }
    const list = h("ol", { class: "region-list" });
    state.regions.forEach((region, index) => {
      const key = classKey(region);
      const selected = region.uid === viewer.selected;
      const type = region.defect_type
        ? termChip(region.defect_type)
        : h("span", { class: "needs-type" }, gettext("needs a defect type"), region.raw_label ? ` (${region.raw_label})` : "");
      const row = h(
        "li",
        {
          class: `region-row${selected ? " selected" : ""}`,
          dataset: { uid: region.uid, regionId: region.id ?? "" },
          onclick: () => viewer.select(region.uid),
        },
        h("span", { class: "swatch", style: `background:${cssColor(key)}` }),
        h("span", { class: "region-index" }, `#${index + 1}`),
        type,
        h("span", { class: "muted small" }, region.mask ? gettext("%(area)s px", { area: region.area }) : gettext("box")),
        h("span", { class: "row-spacer" }),
        region.id !== null ? comments.pinButton(null, `#${index + 1}`, region.id) : null,
        editable
          ? h(
              "button",
              {
                type: "button",
                class: "icon",
                title: gettext("Assign a defect type (T)"),
                onclick: (event) => {
                  event.stopPropagation();
                  viewer.select(region.uid);
                  typingFor = region.uid;
                  update();
                },
              },
              "✎",
            )
          : null,
        editable
          ? h(
              "button",
              {
                type: "button",
                class: "icon danger-text",
                title: gettext("Delete region (Delete)"),
                onclick: (event) => {
                  event.stopPropagation();
                  viewer.select(region.uid);
                  viewer.deleteSelected();
                },
              },
              icon("trash"),
            )
          : null,
      );
      list.append(row);
      const pinned = h("div", { class: "region-comments" });
      if (region.id !== null) comments.showPinned(pinned, { region: region.id });
      list.append(pinned);
      if (typingFor === region.uid && editable) {
        const search = typeahead({
          url: urls.autocomplete,
          facet: "defect_type",
          placeholder: gettext("Defect type…"),
          onPick: (term) => assign(region.uid, term),
        });
        search.input.classList.add("region-type-input");
        list.append(h("li", { class: "region-type" }, search.root));
        queueMicrotask(() => search.input.focus());
      }
    });
    container.append(list);
  }

  store.subscribe(update);
  viewer.onChange(update);
  update();
  return {
    /** T: choose the selected region's defect type. */
    chooseType() {
      if (!editable || viewer.selected === null) return;
      typingFor = viewer.selected;
      update();
    },
  };
}

export function renderLegend({ container, store, viewer, urls, editable, currentClass }) {
  const chooser = editable
    ? typeahead({
        url: urls.autocomplete,
        facet: "defect_type",
        placeholder: gettext("Class for new regions…"),
        onPick: (term) => {
          currentClass.set(term);
          update();
        },
      })
    : null;

  function update() {
    const classes = legendClasses(store.state.regions);
    const items = classes.map((entry, index) => {
      const hidden = viewer.hidden.has(entry.key);
      const isCurrent = entry.term && currentClass.get() && currentClass.get().id === entry.term.id;
      return h(
        "li",
        { class: `legend-item${hidden ? " hidden-class" : ""}${isCurrent ? " current" : ""}`, dataset: { key: entry.key } },
        h(
          "button",
          {
            type: "button",
            class: "legend-toggle",
            "aria-pressed": hidden ? "false" : "true",
            title: gettext("Show or hide (%(key)s)", { key: index + 1 }),
            onclick: () => viewer.toggleClass(entry.key),
          },
          h("span", { class: "swatch", style: `background:${cssColor(entry.key)}` }),
          index < 9 ? h("kbd", {}, String(index + 1)) : null,
          entry.term ? termLabel(entry.term) : gettext("no type"),
          h("span", { class: "muted" }, ` ${entry.count}`),
        ),
        editable && entry.term
          ? h(
              "button",
              {
                type: "button",
                class: "link small",
                title: gettext("Use for new regions"),
                onclick: () => {
                  currentClass.set(entry.term);
                  update();
                },
              },
              isCurrent ? gettext("current") : gettext("use"),
            )
          : null,
      );
    });
    const current = currentClass.get();
    container.replaceChildren(
      h("ul", { class: "legend-list" }, ...items),
      editable
        ? h(
            "div",
            { class: "legend-current" },
            h("span", { class: "muted small" }, gettext("New regions:")),
            current ? termChip(current) : h("span", { class: "needs-type" }, gettext("no type yet")),
            chooser.root,
          )
        : null,
    );
  }
  store.subscribe(update);
  viewer.onChange(update);
  update();
}

export function renderToolbar({ container, viewer, store, editable, onHelp }) {
  const tools = [
    ["select", gettext("Select / pan"), "V", "↖"],
    ["brush", gettext("Brush"), "B", "✎"],
    ["eraser", gettext("Eraser"), "E", "⌫"],
    ["polygon", gettext("Polygon"), "P", "⬠"],
    ["box", gettext("Box"), "X", "▭"],
    ["segment", gettext("Click segmentation"), "C", "✦"],
  ];
  const buttons = {};
  const group = h("div", { class: "tool-group" });
  for (const [tool, label, key, icon] of tools) {
    if (!editable && tool !== "select") continue;
    buttons[tool] = h(
      "button",
      { type: "button", class: "tool", dataset: { tool }, title: `${label} (${key})`, onclick: () => viewer.setTool(tool) },
      h("span", { class: "tool-icon", "aria-hidden": "true" }, icon),
      h("span", { class: "tool-label" }, label),
    );
    group.append(buttons[tool]);
  }
  const size = h("input", {
    type: "range",
    min: "1",
    max: "80",
    value: String(viewer.brushSize),
    "aria-label": gettext("Brush size"),
    oninput: (event) => viewer.setBrushSize(Number(event.target.value)),
  });
  const sizeLabel = h("span", { class: "small muted" });
  const opacity = h("input", {
    type: "range",
    min: "0",
    max: "100",
    value: String(viewer.opacity * 100),
    "aria-label": gettext("Overlay opacity"),
    oninput: (event) => viewer.setOpacity(Number(event.target.value) / 100),
  });
  const undo = h("button", { type: "button", title: gettext("Undo (Ctrl+Z)"), onclick: () => store.undo() }, "↶");
  const redo = h("button", { type: "button", title: gettext("Redo (Ctrl+Shift+Z)"), onclick: () => store.redo() }, "↷");
  container.replaceChildren(
    group,
    editable ? h("label", { class: "tool-setting" }, gettext("Size"), size, sizeLabel) : null,
    h("label", { class: "tool-setting" }, gettext("Opacity"), opacity),
    h(
      "div",
      { class: "tool-group" },
      h("button", { type: "button", title: gettext("Zoom out (−)"), onclick: () => viewer.zoom(1 / 1.25) }, "−"),
      h("button", { type: "button", title: gettext("Fit (F)"), onclick: () => viewer.fit() }, gettext("Fit")),
      h("button", { type: "button", title: gettext("Zoom in (+)"), onclick: () => viewer.zoom(1.25) }, "+"),
    ),
    editable ? h("div", { class: "tool-group" }, undo, redo) : null,
    h("button", { type: "button", class: "help-button", title: gettext("Keyboard shortcuts (?)"), onclick: onHelp }, "?"),
  );

  function update() {
    for (const [tool, button] of Object.entries(buttons)) button.setAttribute("aria-pressed", String(viewer.tool === tool));
    size.value = String(viewer.brushSize);
    sizeLabel.textContent = `${viewer.brushSize}px`;
    undo.disabled = !store.past.length;
    redo.disabled = !store.future.length;
  }
  viewer.onChange(update);
  store.subscribe(update);
  update();
}
