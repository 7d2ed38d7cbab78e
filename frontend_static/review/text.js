// Language helpers: the interface language (from <html lang>) and translated strings.
// gettext/interpolate come from Django's JavaScript catalog (/jsi18n/), loaded before the modules.

export const LANGUAGES = ["en", "zh", "ja"];
export const LANGUAGE_NAMES = { en: "English", zh: "中文", ja: "日本語" };

/** The vocabulary's code for the interface language: zh-hans -> zh. */
export function uiLanguage() {
  const code = (document.documentElement.lang || "en").toLowerCase();
  return code.startsWith("zh") ? "zh" : code.startsWith("ja") ? "ja" : "en";
}

/** A term's label in the interface language, falling back to English. */
export function termLabel(term) {
  if (!term) return "";
  const labels = term.label || term.labels || {};
  return labels[uiLanguage()] || labels.en || term.slug;
}

/** Django's gettext (from the JavaScript catalog), with %(name)s placeholders filled from `values`.
 * Named gettext so that `manage.py makemessages -d djangojs` finds the strings. */
export function gettext(message, values) {
  const text = window.gettext ? window.gettext(message) : message;
  return values ? window.interpolate(text, values, true) : text;
}

/** Create an element: h("div", {class: "x", onclick: fn}, child, "text", ...). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Python counts characters by code point, JavaScript by UTF-16 unit: convert a span. */
export function codePointSpanToUtf16(text, start, end) {
  let unit = 0;
  let point = 0;
  let from = null;
  for (const char of text) {
    if (point === start) from = unit;
    if (point === end) return [from ?? unit, unit];
    unit += char.length;
    point += 1;
  }
  return [from ?? unit, unit];
}

// Small line icons as inline SVG, so they look the same whatever fonts the machine has.
const ICON_PATHS = {
  trash: "M3 4h10M6.5 4V2.5h3V4M4.5 4l.7 9.5h5.6l.7-9.5",
  comment: "M2.5 3h11v7.5H7l-3 2.5v-2.5H2.5z",
  locked: "M4 7.5h8v6H4zM5.5 7.5V5a2.5 2.5 0 0 1 5 0v2.5",
  unlocked: "M4 7.5h8v6H4zM5.5 7.5V5a2.5 2.5 0 0 1 5 0",
};

export function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "14");
  svg.setAttribute("height", "14");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("icon-svg");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICON_PATHS[name]);
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "1.4");
  path.setAttribute("stroke-linejoin", "round");
  svg.append(path);
  return svg;
}
