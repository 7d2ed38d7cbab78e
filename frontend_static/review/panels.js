// Panels that fold away and stay as the person left them (this browser's localStorage): the side
// panels, the captions drawer under the image, and the whole side column. The image's area
// changes with them; the viewer's ResizeObserver re-fits the image.

const STORAGE_KEY = "imdd-panels";

function stored() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}");
  } catch {
    return {};
  }
}

function remember(name, open) {
  const state = stored();
  state[name] = open;
  localStorage.setItem(STORAGE_KEY, JSON.stringify(state));
}

/** Wire every [data-panel] section's toggle. `defaults` says which start folded when the person
 * has not chosen (e.g. the captions drawer on a short screen). */
export function bindPanels(root, defaults = {}) {
  const state = stored();
  for (const panel of root.querySelectorAll("[data-panel]")) {
    const name = panel.dataset.panel;
    const toggle = panel.querySelector(".panel-toggle");
    const body = panel.querySelector(".panel-body");
    if (!toggle || !body) continue;
    const initial = name in state ? state[name] : name in defaults ? defaults[name] : toggle.getAttribute("aria-expanded") === "true";
    const set = (open, save) => {
      toggle.setAttribute("aria-expanded", String(open));
      body.hidden = !open;
      panel.classList.toggle("folded", !open);
      if (save) remember(name, open);
      panel.dispatchEvent(new CustomEvent("panel-toggle", { detail: { open } }));
    };
    set(initial, false);
    toggle.addEventListener("click", () => set(body.hidden, true));
    panel.openPanel = () => set(true, true);
  }
}

/** The side column shown or folded (remembered); returns the toggle. */
export function bindSideColumn(main) {
  const apply = (folded) => main.classList.toggle("side-folded", folded);
  apply(Boolean(stored().side_folded));
  return () => {
    const folded = !main.classList.contains("side-folded");
    remember("side_folded", folded);
    apply(folded);
  };
}
