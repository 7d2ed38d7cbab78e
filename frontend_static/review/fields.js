// The template fields (product, materials, defect types, ...): chips of vocabulary terms and a
// typeahead to add one. A single-valued field's new term replaces the old one.

import { termChip, typeahead } from "./typeahead.js";
import { h, gettext } from "./text.js";

export function renderFields({ container, store, template, urls, editable, comments }) {
  container.replaceChildren();
  const rows = {};
  for (const spec of template) {
    const chips = h("div", { class: "chips" });
    const search = typeahead({
      url: urls.autocomplete,
      facet: spec.facet,
      placeholder: spec.multiple ? gettext("Add…") : gettext("Choose…"),
      disabled: !editable,
      onPick: (term) =>
        store.update((state) => {
          const current = state.fields[spec.name] || [];
          if (current.some((t) => t.id === term.id)) return state;
          const terms = spec.multiple ? [...current, term] : [term];
          return { ...state, fields: { ...state.fields, [spec.name]: terms } };
        }),
    });
    search.input.dataset.field = spec.name;
    const row = h(
      "div",
      { class: "field-row", dataset: { field: spec.name } },
      h(
        "div",
        { class: "field-label" },
        h("span", {}, spec.label, spec.required ? h("span", { class: "required", title: gettext("required") }, " *") : null),
        comments.pinButton(`fields.${spec.name}`, spec.label),
      ),
      chips,
      editable ? search.root : null,
      h("div", { class: "field-comments" }),
    );
    rows[spec.name] = { row, chips };
    container.append(row);
  }

  const notes = h("textarea", {
    class: "notes-input",
    rows: "2",
    readonly: !editable,
    placeholder: gettext("Notes for the next stage (optional)"),
    oninput: (event) => store.update((state) => ({ ...state, notes: event.target.value }), { group: "notes" }),
  });
  const notesRow = h(
    "div",
    { class: "field-row", dataset: { field: "notes" } },
    h("div", { class: "field-label" }, h("span", {}, gettext("Notes")), comments.pinButton("notes", gettext("Notes"))),
    notes,
    h("div", { class: "field-comments" }),
  );
  container.append(notesRow);

  function update(state) {
    if (notes.value !== state.notes) notes.value = state.notes;
    comments.showPinned(notesRow.querySelector(".field-comments"), { field: "notes" });
    for (const spec of template) {
      const { row, chips } = rows[spec.name];
      chips.replaceChildren(
        ...(state.fields[spec.name] || []).map((term) =>
          termChip(term, {
            disabled: !editable,
            onRemove: () =>
              store.update((s) => ({
                ...s,
                fields: { ...s.fields, [spec.name]: s.fields[spec.name].filter((t) => t.id !== term.id) },
              })),
          }),
        ),
      );
      if (!(state.fields[spec.name] || []).length) chips.append(h("span", { class: "muted small" }, "—"));
      comments.showPinned(row.querySelector(".field-comments"), { field: `fields.${spec.name}` });
    }
  }
  store.subscribe(update);
  update(store.state);
}
