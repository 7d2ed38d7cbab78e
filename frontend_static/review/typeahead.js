// Typeahead over the vocabulary (GET /api/vocabulary/autocomplete/): each term shows its label in
// English, Chinese and Japanese, so an expert can type in any of them and check the others.

import { get } from "./api.js";
import { LANGUAGES, h, termLabel, gettext, uiLanguage } from "./text.js";

let listCounter = 0;
const SHOWN = 8;
const FETCHED = 30;

/** Terms whose label (in any language) is the text come first, then those whose label starts
 * with it, then the rest (alias matches), each group in the server's order. */
export function rankByLabel(terms, query) {
  const text = query.trim().toLowerCase();
  const rank = (term) => {
    const labels = Object.values(term.labels || {}).map((label) => String(label).toLowerCase());
    if (labels.some((label) => label === text)) return 0;
    if (labels.some((label) => label.startsWith(text))) return 1;
    return 2;
  };
  return terms.map((term, index) => ({ term, index, rank: rank(term) })).sort((a, b) => a.rank - b.rank || a.index - b.index).map((entry) => entry.term);
}

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
    // The vocabulary answers label and alias matches alike; ask for more and put the terms whose
    // label starts with the text first ("alum" + Enter must pick aluminium, not an alias's term).
    const params = new URLSearchParams({ q: query, facet, limit: String(FETCHED) });
    try {
      const terms = await get(`${url}?${params}`);
      if (mine !== sequence) return; // a newer query was sent meanwhile
      items = rankByLabel(terms, query)
        .slice(0, SHOWN)
        .map((t) => ({ id: t.id, slug: t.slug, label: t.labels }));
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
      list.append(h("li", { class: "typeahead-empty" }, message || gettext("No term starts with this.")));
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
