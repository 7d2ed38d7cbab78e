// The regions list (type, size, how it is shown, lock, comments, delete), the legend of defect
// classes (colour, number key, fill / outline / hidden, the class new regions get) and the image
// toolbar (tools, display, image adjustments, zoom, undo, merge and split).

import { classKey, cssColor, legendClasses } from "./classes.js";
import { termChip, typeahead } from "./typeahead.js";
import { h, icon, termLabel, gettext } from "./text.js";
import { withRegion } from "./store.js";

const present = (...items) => items.flat().filter((item) => item !== null && item !== undefined && item !== false);

function modeLabel(mode) {
  return { fill: gettext("filled"), outline: gettext("outline"), hidden: gettext("hidden") }[mode];
}

function modeIcon(mode) {
  return { fill: "■", outline: "□", hidden: "◌" }[mode];
}

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
    const rows = [];
    state.regions.forEach((region, index) => {
      const key = classKey(region);
      const selected = viewer.isSelected(region.uid);
      const locked = viewer.isLocked(region.uid);
      const mode = viewer.regionMode(region);
      const type = region.defect_type
        ? termChip(region.defect_type)
        : h("span", { class: "needs-type" }, gettext("needs a defect type"), region.raw_label ? ` (${region.raw_label})` : "");
      const stop = (action) => (event) => {
        event.stopPropagation();
        action();
      };
      rows.push(
        h(
          "li",
          {
            class: `region-row${selected ? " selected" : ""}${locked ? " locked" : ""}`,
            dataset: { uid: region.uid, regionId: region.id ?? "", mode },
            onclick: (event) => viewer.select(region.uid, { add: event.shiftKey }),
          },
          h("span", { class: "swatch", style: `background:${cssColor(key)}` }),
          h("span", { class: "region-index" }, `#${index + 1}`),
          type,
          h("span", { class: "muted small" }, region.mask ? gettext("%(area)s px", { area: region.area }) : gettext("box")),
          region.polygon ? h("span", { class: "muted small", title: gettext("Drag its corners to reshape it") }, "⬠") : null,
          h("span", { class: "row-spacer" }),
          h("button", { type: "button", class: "icon region-mode", title: gettext("Shown: %(mode)s (click: filled, outline, hidden)", { mode: modeLabel(mode) }), onclick: stop(() => viewer.cycleRegionMode(region.uid)) }, modeIcon(mode)),
          editable
            ? h("button", { type: "button", class: `icon region-lock${locked ? " on" : ""}`, "aria-pressed": String(locked), title: locked ? gettext("Locked: click to unlock (L)") : gettext("Lock against edits (L)"), onclick: stop(() => viewer.toggleLock(region.uid)) }, icon(locked ? "locked" : "unlocked"))
            : null,
          region.id !== null ? comments.pinButton(null, `#${index + 1}`, region.id) : null,
          editable
            ? h("button", { type: "button", class: "icon", title: gettext("Assign a defect type (T)"), onclick: stop(() => { viewer.select(region.uid); typingFor = region.uid; update(); }) }, "✎")
            : null,
          editable
            ? h("button", { type: "button", class: "icon danger-text", title: gettext("Delete region (Delete)"), onclick: stop(() => { viewer.select(region.uid); viewer.deleteSelected(); }) }, icon("trash"))
            : null,
        ),
      );
      const pinned = h("div", { class: "region-comments" });
      if (region.id !== null) comments.showPinned(pinned, { region: region.id });
      rows.push(pinned);
      if (typingFor === region.uid && editable) {
        const search = typeahead({
          url: urls.autocomplete,
          facet: "defect_type",
          placeholder: gettext("Defect type…"),
          onPick: (term) => assign(region.uid, term),
        });
        search.input.classList.add("region-type-input");
        rows.push(h("li", { class: "region-type" }, search.root));
        queueMicrotask(() => search.input.focus());
      }
    });
    const several = viewer.selectedRegions().length;
    container.replaceChildren(
      ...present(
        state.regions.length ? null : h("p", { class: "muted small" }, gettext("No regions. Draw one with the tools above the image.")),
        h("ol", { class: "region-list" }, ...rows),
        editable && state.regions.length
          ? h(
              "div",
              { class: "region-tools" },
              h("button", { type: "button", dataset: { command: "merge" }, disabled: several < 2, title: gettext("Merge the selected regions (M); Shift+click selects several"), onclick: () => viewer.mergeSelected() }, gettext("Merge")),
              h("button", { type: "button", dataset: { command: "split" }, disabled: several !== 1, title: gettext("Split the selected region into its separate parts (K)"), onclick: () => viewer.splitSelected() }, gettext("Split")),
            )
          : null,
      ),
    );
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
      const mode = viewer.classMode(entry.key);
      const isCurrent = entry.term && currentClass.get() && currentClass.get().id === entry.term.id;
      return h(
        "li",
        { class: `legend-item mode-${mode}${mode === "hidden" ? " hidden-class" : ""}${isCurrent ? " current" : ""}`, dataset: { key: entry.key } },
        h(
          "button",
          {
            type: "button",
            class: "legend-toggle",
            "aria-pressed": mode === "hidden" ? "false" : "true",
            title: gettext("Show or hide (%(key)s)", { key: index + 1 }),
            onclick: () => viewer.toggleClass(entry.key),
          },
          h("span", { class: "swatch", style: `background:${cssColor(entry.key)}` }),
          index < 9 ? h("kbd", {}, String(index + 1)) : null,
          entry.term ? termLabel(entry.term) : gettext("no type"),
          h("span", { class: "muted" }, ` ${entry.count}`),
        ),
        h("button", { type: "button", class: "legend-mode", title: gettext("Shown: %(mode)s (click: filled, outline, hidden)", { mode: modeLabel(mode) }), onclick: () => viewer.cycleClassMode(entry.key) }, modeIcon(mode)),
        editable && entry.term
          ? h("button", { type: "button", class: "link small", title: gettext("Use for new regions"), onclick: () => { currentClass.set(entry.term); update(); } }, isCurrent ? gettext("current") : gettext("use"))
          : null,
      );
    });
    const current = currentClass.get();
    container.replaceChildren(
      ...present(
        items.length ? h("ul", { class: "legend-list" }, ...items) : null,
        editable
          ? h(
              "div",
              { class: "legend-current" },
              h("span", { class: "muted small" }, gettext("New regions:")),
              current ? termChip(current) : h("span", { class: "needs-type" }, gettext("no type yet")),
              chooser.root,
            )
          : null,
      ),
    );
  }
  store.subscribe(update);
  viewer.onChange(update);
  update();
}

function slider({ label, min, max, step, value, onInput, name }) {
  const input = h("input", { type: "range", min: String(min), max: String(max), step: String(step), value: String(value), dataset: { adjust: name }, oninput: (event) => onInput(Number(event.target.value)) });
  return { input, row: h("label", { class: "adjust-row" }, h("span", {}, label), input) };
}

function adjustmentsMenu(viewer) {
  const settings = () => viewer.display.settings;
  const brightness = slider({ name: "brightness", label: gettext("Brightness"), min: -100, max: 100, step: 1, value: 0, onInput: (v) => viewer.setAdjustments({ brightness: v }) });
  const contrast = slider({ name: "contrast", label: gettext("Contrast"), min: -100, max: 100, step: 1, value: 0, onInput: (v) => viewer.setAdjustments({ contrast: v }) });
  const gamma = slider({ name: "gamma", label: gettext("Gamma"), min: 0.2, max: 5, step: 0.05, value: 1, onInput: (v) => viewer.setAdjustments({ gamma: v }) });
  const invert = h("input", { type: "checkbox", dataset: { adjust: "invert" }, onchange: (event) => viewer.setAdjustments({ invert: event.target.checked }) });
  const reset = h("button", { type: "button", class: "small", onclick: () => viewer.setAdjustments({ brightness: 0, contrast: 0, gamma: 1, invert: false }) }, gettext("Reset"));
  const note = h("p", { class: "muted small" });
  const menu = h(
    "details",
    { class: "tool-menu adjust-menu" },
    h("summary", { title: gettext("Brightness, contrast, gamma, invert (display only)") }, "◐ ", h("span", { class: "tool-label" }, gettext("Image"))),
    h("div", { class: "tool-menu-body" }, brightness.row, contrast.row, gamma.row, h("label", { class: "inline" }, invert, gettext("Invert (I)")), reset, note),
  );
  return {
    menu,
    update() {
      const s = settings();
      brightness.input.value = String(s.brightness);
      contrast.input.value = String(s.contrast);
      gamma.input.value = String(s.gamma);
      invert.checked = s.invert;
      note.textContent = viewer.display.adjustable ? gettext("Display only: saved masks and images do not change.") : gettext("This image comes from another server: adjustments and pixel values are not available.");
      menu.classList.toggle("active", !(s.brightness === 0 && s.contrast === 0 && s.gamma === 1 && !s.invert));
    },
  };
}

export function renderToolbar({ container, viewer, store, editable, onHelp, onToggleSide }) {
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
  for (const [tool, label, key, symbol] of tools) {
    if (!editable && tool !== "select") continue;
    buttons[tool] = h(
      "button",
      { type: "button", class: "tool", dataset: { tool }, title: `${label} (${key})`, onclick: () => viewer.setTool(tool) },
      h("span", { class: "tool-icon", "aria-hidden": "true" }, symbol),
      h("span", { class: "tool-label" }, label),
    );
    group.append(buttons[tool]);
  }
  const size = h("input", { type: "range", min: "1", max: "80", value: String(viewer.brushSize), "aria-label": gettext("Brush size"), oninput: (event) => viewer.setBrushSize(Number(event.target.value)) });
  const sizeLabel = h("span", { class: "small muted" });
  const opacity = h("input", { type: "range", min: "0", max: "100", value: String(viewer.opacity * 100), "aria-label": gettext("Fill opacity"), oninput: (event) => viewer.setOpacity(Number(event.target.value) / 100) });
  const modeSelect = h(
    "select",
    { "aria-label": gettext("Masks: filled or outlines (O)"), title: gettext("Masks: filled or outlines (O)"), id: "display-mode", onchange: (event) => viewer.setDisplayMode(event.target.value) },
    h("option", { value: "fill" }, gettext("Filled")),
    h("option", { value: "outline" }, gettext("Outlines")),
  );
  const selectedOnly = h("input", { type: "checkbox", id: "selected-only", onchange: (event) => viewer.setSelectedOnly(event.target.checked) });
  const adjustments = adjustmentsMenu(viewer);
  const undo = h("button", { type: "button", title: gettext("Undo (Ctrl+Z)"), onclick: () => store.undo() }, "↶");
  const redo = h("button", { type: "button", title: gettext("Redo (Ctrl+Shift+Z)"), onclick: () => store.redo() }, "↷");
  container.replaceChildren(
    ...present(
      group,
      editable ? h("label", { class: "tool-setting" }, gettext("Size"), size, sizeLabel) : null,
      h("div", { class: "tool-group" }, modeSelect, h("label", { class: "tool-setting", title: gettext("Only the selected region (S)") }, selectedOnly, gettext("Selected only"))),
      h("label", { class: "tool-setting", title: gettext("Fill opacity") }, "◑", opacity),
      adjustments.menu,
      h(
        "div",
        { class: "tool-group" },
        h("button", { type: "button", title: gettext("Zoom out (−)"), onclick: () => viewer.zoom(1 / 1.25) }, "−"),
        h("button", { type: "button", title: gettext("Fit (F)"), onclick: () => viewer.fit() }, gettext("Fit")),
        h("button", { type: "button", title: gettext("Zoom in (+)"), onclick: () => viewer.zoom(1.25) }, "+"),
      ),
      editable ? h("div", { class: "tool-group" }, undo, redo) : null,
      h("span", { class: "row-spacer" }),
      h("button", { type: "button", id: "side-toggle", title: gettext("Show or hide the side panels (\\)"), onclick: onToggleSide }, "⇥"),
      h("button", { type: "button", class: "help-button", title: gettext("Keyboard shortcuts (?)"), onclick: onHelp }, "?"),
    ),
  );

  function update() {
    for (const [tool, button] of Object.entries(buttons)) button.setAttribute("aria-pressed", String(viewer.tool === tool));
    size.value = String(viewer.brushSize);
    sizeLabel.textContent = `${viewer.brushSize}px`;
    modeSelect.value = viewer.displayMode;
    selectedOnly.checked = viewer.selectedOnly;
    adjustments.update();
    undo.disabled = !store.past.length;
    redo.disabled = !store.future.length;
  }
  viewer.onChange(update);
  store.subscribe(update);
  update();
}
