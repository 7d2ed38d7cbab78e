// Typeahead over the vocabulary (GET /api/vocabulary/autocomplete/): each term shows its label in
// English, Chinese and Japanese, so an expert can type in any of them and check the others.

import { get } from "./api.js";
import { LANGUAGES, h, termLabel, gettext, uiLanguage } from "./text.js";

let listCounter = 0;
// The vocabulary ranks the terms (vocabulary/selectors.py: term_search): the whole name, then names
// starting with the text, then words or parts of compounds, a label before an alias. The page keeps
// that order, so "alum" + Enter picks aluminium, and asks for no more than it shows.
const SHOWN = 8;

/** A text input with a dropdown of terms of `facet`; `onPick(term)` receives {id, slug, label}. */
export function typeahead({ url, facet, placeholder, onPick, disabled = false }) {
  const listId = `typeahead-${++listCounter}`;
  const input = h("input", {
    type: "text",
    class: "typeahead-input",
    placeholder,
    disabled,
    role: "combobox",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    "aria-controls": listId,
    autocomplete: "off",
  });
  const list = h("ul", { class: "typeahead-list", id: listId, role: "listbox", hidden: true });
  const root = h("div", { class: "typeahead" }, input, list);
  let items = [];
  let active = -1;
  let timer = null;
  let sequence = 0;

  async function search() {
    const query = input.value.trim();
    const mine = ++sequence;
    const params = new URLSearchParams({ q: query, facet, limit: String(SHOWN) });
    try {
      const terms = await get(`${url}?${params}`);
      if (mine !== sequence) return; // a newer query was sent meanwhile
      items = terms.map((t) => ({ id: t.id, slug: t.slug, label: t.labels }));
      active = items.length ? 0 : -1;
      render();
    } catch (error) {
      items = [];
      render(gettext("Search failed: %(reason)s", { reason: error.message }));
    }
  }

  function render(message) {
    list.replaceChildren();
    if (message || !items.length) {
      list.append(h("li", { class: "typeahead-empty" }, message || gettext("No term matches this.")));
    }
    const first = uiLanguage();
    const order = [first, ...LANGUAGES.filter((l) => l !== first)];
    items.forEach((term, index) => {
      list.append(
        h(
          "li",
          {
            role: "option",
            class: index === active ? "active" : "",
            "aria-selected": index === active ? "true" : "false",
            dataset: { slug: term.slug },
            onmousedown: (event) => {
              event.preventDefault();
              pick(index);
            },
          },
          h("span", { class: "term-main", lang: order[0] }, term.label[order[0]]),
          ...order.slice(1).map((l) => h("span", { class: "term-other", lang: l }, term.label[l])),
        ),
      );
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
  }

  function pick(index) {
    const term = items[index];
    if (!term) return;
    input.value = "";
    close();
    onPick(term);
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, 120);
  });
  input.addEventListener("focus", () => search());
  input.addEventListener("blur", () => setTimeout(close, 100));
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!items.length) return;
      active = (active + (event.key === "ArrowDown" ? 1 : -1) + items.length) % items.length;
      render();
    } else if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      event.stopPropagation();
      pick(active);
    } else if (event.key === "Escape") {
      event.stopPropagation();
      close();
      input.blur();
    }
  });
  return { root, input };
}

/** A term as a chip: label in the interface language, the other two in its tooltip. */
export function termChip(term, { onRemove, disabled } = {}) {
  const title = LANGUAGES.map((l) => (term.label || {})[l]).filter(Boolean).join(" · ");
  return h(
    "span",
    { class: "chip", title, dataset: { slug: term.slug, id: term.id } },
    termLabel(term),
    onRemove && !disabled
      ? h("button", { type: "button", class: "chip-remove", "aria-label": gettext("Remove"), onclick: onRemove }, "×")
      : null,
  );
}
