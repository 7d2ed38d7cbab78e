// Keyboard shortcuts for every frequent action, listed in the "?" dialog, where each single-key
// shortcut can be changed (kept in this browser's localStorage). Single keys act only when the
// focus is not in a text field; Ctrl combinations act everywhere and are fixed.

import { h, gettext } from "./text.js";

const STORAGE_KEY = "imdd-shortcuts";

// action -> [default key, description]
const SINGLE_KEYS = () => ({
  skip: ["n", gettext("Skip to the next sample (asks why)")],
  select: ["v", gettext("Tool: select, pan, reshape a polygon")],
  brush: ["b", gettext("Tool: brush")],
  eraser: ["e", gettext("Tool: eraser")],
  polygon: ["p", gettext("Tool: polygon")],
  box: ["x", gettext("Tool: box")],
  segment: ["c", gettext("Tool: click segmentation")],
  type: ["t", gettext("Assign a defect type to the selected region")],
  outline: ["o", gettext("Masks as outlines / filled")],
  selectedOnly: ["s", gettext("Show only the selected region")],
  regionMode: ["h", gettext("The selected region: filled, outlined, hidden")],
  lock: ["l", gettext("Lock or unlock the selected region")],
  merge: ["m", gettext("Merge the selected regions")],
  split: ["k", gettext("Split the selected region into its parts")],
  compare: ["d", gettext("Show or hide the compared revision's masks")],
  invert: ["i", gettext("Invert the image (display only)")],
  fit: ["f", gettext("Fit the image")],
  zoomIn: ["+", gettext("Zoom in")],
  zoomOut: ["-", gettext("Zoom out")],
  side: ["\\", gettext("Show or hide the side panels")],
  jump: ["j", gettext("Go to a sample by number")],
});

const FIXED = () => [
  ["Ctrl+Enter", gettext("Submit (stage 1), approve (stage 2), vote approve (stage 3)")],
  ["Ctrl+Shift+Enter", gettext("Request changes (stage 2), vote reject (stage 3)")],
  ["Ctrl+S", gettext("Save")],
  ["Ctrl+Z / Ctrl+Shift+Z", gettext("Undo / redo (also after saving)")],
  ["1 … 9", gettext("Show or hide defect class 1 to 9")],
  ["0", gettext("Show every class and region")],
  ["[ / ]", gettext("Brush size smaller / larger")],
  [gettext("Click / Shift+click"), gettext("Click segmentation: positive / negative point; select: add a region")],
  ["Enter / Esc", gettext("Accept the proposed region or polygon / cancel")],
  ["Delete", gettext("Delete the selected region")],
  [gettext("Space+drag, wheel"), gettext("Pan, zoom")],
  ["?", gettext("This list")],
];

export function loadKeymap() {
  const keys = Object.fromEntries(Object.entries(SINGLE_KEYS()).map(([action, [key]]) => [action, key]));
  try {
    Object.assign(keys, JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}"));
  } catch {
    // a damaged entry: the defaults stand
  }
  return keys;
}

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

const RESERVED = new Set(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "[", "]", "?", "Enter", "Escape", "Delete", "Backspace", " "]);

export function bindShortcuts({ viewer, store, actions, regions, legendKeys, helpDialog, commands, mode }) {
  let keymap = loadKeymap();
  let capturing = null; // the action whose new key the next key press sets

  function renderHelp() {
    const rows = helpDialog.querySelector("#shortcut-rows");
    const single = SINGLE_KEYS();
    rows.replaceChildren(
      ...Object.entries(single).map(([action, [, description]]) =>
        h(
          "tr",
          { dataset: { action } },
          h("th", {}, h("kbd", {}, capturing === action ? "…" : keymap[action].toUpperCase())),
          h("td", {}, description),
          h("td", {}, h("button", { type: "button", class: "link small", onclick: () => { capturing = action; renderHelp(); } }, capturing === action ? gettext("press a key…") : gettext("change"))),
        ),
      ),
      ...FIXED().map(([keys, description]) => h("tr", {}, h("th", {}, keys), h("td", {}, description), h("td"))),
    );
  }

  helpDialog.querySelector("#shortcuts-reset").addEventListener("click", () => {
    localStorage.removeItem(STORAGE_KEY);
    keymap = loadKeymap();
    renderHelp();
  });
  helpDialog.addEventListener("keydown", (event) => {
    if (!capturing || event.key === "Escape") {
      capturing = null;
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key.length === 1 && !RESERVED.has(key)) {
      // A key has one action: whichever had it gives it up for its default.
      for (const [action, current] of Object.entries(keymap)) if (current === key && action !== capturing) keymap[action] = SINGLE_KEYS()[action][0];
      keymap[capturing] = key;
      localStorage.setItem(STORAGE_KEY, JSON.stringify(keymap));
    }
    capturing = null;
    renderHelp();
  });
  renderHelp();

  const run = {
    skip: () => mode !== "view" && commands.skip(),
    select: () => viewer.setTool("select"),
    brush: () => viewer.setTool("brush"),
    eraser: () => viewer.setTool("eraser"),
    polygon: () => viewer.setTool("polygon"),
    box: () => viewer.setTool("box"),
    segment: () => viewer.setTool("segment"),
    type: () => regions.chooseType(),
    outline: () => viewer.setDisplayMode(viewer.displayMode === "fill" ? "outline" : "fill"),
    selectedOnly: () => viewer.setSelectedOnly(!viewer.selectedOnly),
    regionMode: () => viewer.selected !== null && viewer.cycleRegionMode(viewer.selected),
    lock: () => viewer.selected !== null && viewer.toggleLock(viewer.selected),
    merge: () => viewer.mergeSelected(),
    split: () => viewer.splitSelected(),
    compare: () => viewer.toggleComparisonOutlines(),
    invert: () => viewer.setAdjustments({ invert: !viewer.display.settings.invert }),
    fit: () => viewer.fit(),
    zoomIn: () => viewer.zoom(1.25),
    zoomOut: () => viewer.zoom(1 / 1.25),
    side: () => commands.toggleSide(),
    jump: () => commands.jump(),
  };

  window.addEventListener("keydown", (event) => {
    if (document.querySelector("dialog[open]") && event.key !== "Escape") return;
    const ctrl = event.ctrlKey || event.metaKey;
    const key = event.key;
    if (ctrl && key === "Enter") {
      event.preventDefault();
      if (event.shiftKey) actions.run(mode === "consensus" ? "reject" : "request-changes");
      else actions.run(mode === "annotation" ? "submit" : "approve");
      return;
    }
    if (ctrl && (key === "s" || key === "S")) {
      event.preventDefault();
      actions.run("save");
      return;
    }
    if (typing(event.target)) return;
    if (ctrl && (key === "z" || key === "Z")) {
      event.preventDefault();
      if (event.shiftKey) store.redo();
      else store.undo();
      return;
    }
    if (ctrl && (key === "y" || key === "Y")) {
      event.preventDefault();
      store.redo();
      return;
    }
    if (ctrl || event.altKey) return;
    const lower = key.length === 1 ? key.toLowerCase() : key;
    const action = Object.keys(keymap).find((name) => keymap[name] === lower || (name === "zoomIn" && lower === "=" && keymap.zoomIn === "+"));
    if (key === "?") {
      event.preventDefault();
      helpDialog.showModal();
    } else if (/^[1-9]$/.test(key)) {
      const entry = legendKeys()[Number(key) - 1];
      if (entry) viewer.toggleClass(entry.key);
    } else if (key === "0") {
      viewer.showAllClasses();
    } else if (key === "[") {
      viewer.setBrushSize(viewer.brushSize - Math.max(1, Math.round(viewer.brushSize / 5)));
    } else if (key === "]") {
      viewer.setBrushSize(viewer.brushSize + Math.max(1, Math.round(viewer.brushSize / 5)));
    } else if (key === "Enter") {
      if (viewer.accept()) event.preventDefault();
    } else if (key === "Escape") {
      viewer.cancel();
    } else if (key === "Delete" || key === "Backspace") {
      if (!viewer.removeLastPolygonPoint()) viewer.deleteSelected();
      event.preventDefault();
    } else if (action) {
      event.preventDefault();
      run[action]();
    }
  });
}
