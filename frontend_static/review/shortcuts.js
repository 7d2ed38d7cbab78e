// Keyboard shortcuts for every frequent action; the list is behind "?" (the help dialog).
// Single keys act only when the focus is not in a text field; Ctrl combinations act everywhere.

import { gettext } from "./text.js";

const TOOL_KEYS = { v: "select", b: "brush", e: "eraser", p: "polygon", x: "box", c: "segment" };

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

export function bindShortcuts({ viewer, store, actions, regions, legendKeys, helpDialog, nextForm, mode }) {
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
    const lower = key.toLowerCase();
    if (key === "?") {
      event.preventDefault();
      helpDialog.showModal();
    } else if (lower === "n" && mode !== "view") {
      event.preventDefault();
      if (!store.dirty || window.confirm(gettext("Leave this sample with unsaved changes?"))) {
        actions.leaving = true;
        nextForm.submit();
      }
    } else if (/^[1-9]$/.test(key)) {
      const entry = legendKeys()[Number(key) - 1];
      if (entry) viewer.toggleClass(entry.key);
    } else if (key === "0") {
      viewer.showAllClasses();
    } else if (TOOL_KEYS[lower]) {
      viewer.setTool(TOOL_KEYS[lower]);
    } else if (key === "[") {
      viewer.setBrushSize(viewer.brushSize - Math.max(1, Math.round(viewer.brushSize / 5)));
    } else if (key === "]") {
      viewer.setBrushSize(viewer.brushSize + Math.max(1, Math.round(viewer.brushSize / 5)));
    } else if (key === "+" || key === "=") {
      viewer.zoom(1.25);
    } else if (key === "-") {
      viewer.zoom(1 / 1.25);
    } else if (lower === "f") {
      viewer.fit();
    } else if (key === "Enter") {
      if (viewer.accept()) event.preventDefault();
    } else if (key === "Escape") {
      viewer.cancel();
    } else if (key === "Delete" || key === "Backspace") {
      if (viewer.tool === "polygon" && viewer.polygon.length) viewer.polygon.pop();
      else viewer.deleteSelected();
      viewer.requestDraw();
      event.preventDefault();
    } else if (lower === "t") {
      event.preventDefault();
      regions.chooseType();
    } else {
      return;
    }
  });
}
