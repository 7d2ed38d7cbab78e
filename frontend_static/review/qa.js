// Question-answer pairs about the image, each pointing at the regions it is about.

import { classKey, cssColor } from "./classes.js";
import { LANGUAGES, LANGUAGE_NAMES, h, icon, gettext } from "./text.js";

export function renderQA({ container, store, viewer, editable, comments }) {
  function change(index, patch) {
    store.update(
      (state) => ({ ...state, qa_pairs: state.qa_pairs.map((p, i) => (i === index ? { ...p, ...patch } : p)) }),
      { group: `qa-${index}-${Object.keys(patch).join()}` },
    );
  }

  function update() {
    const state = store.state;
    const regionNumber = new Map(state.regions.map((r, i) => [r.uid, i + 1]));
    const items = state.qa_pairs.map((pair, index) =>
      h(
        "li",
        { class: "qa-pair", dataset: { index } },
        h("input", {
          type: "text",
          class: "qa-question",
          value: pair.question,
          placeholder: gettext("Question"),
          readonly: !editable,
          oninput: (event) => change(index, { question: event.target.value }),
        }),
        h("textarea", {
          class: "qa-answer",
          rows: "2",
          placeholder: gettext("Answer"),
          readonly: !editable,
          oninput: (event) => change(index, { answer: event.target.value }),
        }, pair.answer),
        h(
          "div",
          { class: "qa-meta" },
          h(
            "select",
            { disabled: !editable, "aria-label": gettext("Language"), onchange: (event) => change(index, { language: event.target.value }) },
            ...LANGUAGES.map((l) => h("option", { value: l, selected: l === pair.language }, LANGUAGE_NAMES[l])),
          ),
          h("span", { class: "muted small" }, gettext("Regions:")),
          ...state.regions.map((region) => {
            const on = pair.regions.includes(region.uid);
            return h(
              "button",
              {
                type: "button",
                class: `region-toggle${on ? " on" : ""}`,
                style: on ? `border-color:${cssColor(classKey(region))}` : "",
                disabled: !editable,
                "aria-pressed": String(on),
                title: gettext("Point at region #%(n)s", { n: regionNumber.get(region.uid) }),
                onclick: () =>
                  change(index, { regions: on ? pair.regions.filter((u) => u !== region.uid) : [...pair.regions, region.uid] }),
                onmouseenter: () => viewer.select(region.uid),
              },
              `#${regionNumber.get(region.uid)}`,
            );
          }),
          h("span", { class: "row-spacer" }),
          editable
            ? h(
                "button",
                {
                  type: "button",
                  class: "icon danger-text",
                  title: gettext("Delete this pair"),
                  onclick: () => store.update((s) => ({ ...s, qa_pairs: s.qa_pairs.filter((_, i) => i !== index) })),
                },
                icon("trash"),
              )
            : null,
        ),
      ),
    );
    const pinned = h("div", {});
    comments.showPinned(pinned, { field: "qa_pairs" });
    // replaceChildren would write a null as the text "null": leave the absent parts out.
    const parts = [
      h("div", { class: "panel-tools" }, comments.pinButton("qa_pairs", gettext("Questions and answers"))),
      pinned,
      items.length ? h("ol", { class: "qa-list" }, ...items) : h("p", { class: "muted small" }, gettext("No questions yet.")),
      editable
        ? h(
            "button",
            {
              type: "button",
              onclick: () =>
                store.update((s) => ({
                  ...s,
                  qa_pairs: [...s.qa_pairs, { question: "", answer: "", language: "en", regions: viewer.selected ? [viewer.selected] : [] }],
                })),
            },
            gettext("Add a question"),
          )
        : null,
    ];
    container.replaceChildren(...parts.filter((part) => part !== null));
  }

  // Re-render only when the pairs or the regions change: typing must not lose the cursor.
  let shown = null;
  store.subscribe((state, kind) => {
    const key = [state.qa_pairs.length, state.regions.map((r) => r.uid).join(), state.qa_pairs.map((p) => p.regions.join("-") + p.language).join()].join("|");
    if (kind === "reset" || key !== shown || !container.contains(document.activeElement)) {
      shown = key;
      update();
    }
  });
  shown = null;
  update();
}
