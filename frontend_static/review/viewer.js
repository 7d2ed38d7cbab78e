// The image on a canvas: what is shown (regions filled, outlined or hidden per class and per
// region; the compared revision's masks as dashed outlines; the image's brightness, contrast,
// gamma, invert), the pointer's events routed to the tools, and the view (view.js), minimap and
// pixel readout. Coordinates in the state are pixels of the original image, as the server
// stores masks. The tools are in mask-tools.js and click-segmentation.js.

import { classKey } from "./classes.js";
import { CanvasPainter } from "./canvas-painter.js";
import { ClickSegmentation } from "./click-segmentation.js";
import { ImageDisplay } from "./image-display.js";
import { connectedComponents, unionMasks } from "./mask-geometry.js";
import { MaskTools } from "./mask-tools.js";
import { Minimap } from "./minimap.js";
import { boxMask, maskGeometry } from "./rle.js";
import { newRegion, removeRegion, replaceRegions } from "./store.js";
import { gettext } from "./text.js";
import { ViewTransform } from "./view.js";

export const TOOLS = ["select", "brush", "eraser", "polygon", "box", "segment"];
const EDIT_TOOLS = new Set(["brush", "eraser", "polygon", "box", "segment"]);
export const DISPLAY_MODES = ["fill", "outline", "hidden"];

export class Viewer {
  constructor({ canvas, wrap, hint, readout, minimap, zoomLabel, store, sample, editable, segmentUrl, currentClass }) {
    this.canvas = canvas;
    this.wrap = wrap;
    this.hintElement = hint;
    this.readout = readout;
    this.zoomLabel = zoomLabel;
    this.store = store;
    this.sample = sample; // {id, width, height, files, assetSize}
    this.editable = editable;
    this.currentClass = currentClass; // () -> the defect type term new regions get
    this.context = canvas.getContext("2d");
    this.view = new ViewTransform(sample);
    this.tool = "select";
    this.brushSize = 8;
    this.opacity = 0.5;
    this.displayMode = "fill"; // for every region without its own or its class's mode
    this.classModes = new Map(); // class key -> fill | outline | hidden
    this.regionModes = new Map(); // region uid -> fill | outline | hidden
    this.locked = new Set(); // region uids
    this.selectedOnly = false;
    this.selected = null; // the region uid the tools act on
    this.alsoSelected = new Set(); // Shift+click adds regions (to merge them)
    this.comparison = null; // {label, regions: [{mask, bbox}], visible}
    this.overlays = []; // layers drawn over the regions: {draw(context, scale)} (the model's proposals)
    this.pan = null;
    this.pointer = null;
    this.spaceHeld = false;
    this.listeners = new Set();
    this.tools = new MaskTools(this);
    this.segmentation = new ClickSegmentation({
      sample,
      url: segmentUrl,
      hint: (text) => this.hint(text),
      changed: () => {
        this.emit();
        this.requestDraw();
      },
      accept: (mask) => this.addMaskRegion(mask),
    });
    this.display = new ImageDisplay({ sample, onReady: () => this.imageReady() });
    this.minimap = new Minimap({ canvas: minimap, viewer: this });
    this.painter = new CanvasPainter(this);
    this.bindEvents();
    new ResizeObserver(() => this.resize()).observe(wrap);
    store.subscribe((state, kind) => {
      if (this.selected !== null && !state.regions.some((r) => r.uid === this.selected)) this.select(null);
      if (kind === "reset") this.painter.clear();
      this.requestDraw();
    });
  }

  onChange(listener) {
    this.listeners.add(listener);
  }

  emit() {
    for (const listener of this.listeners) listener(this);
  }

  get image() {
    return this.display.shown;
  }

  imageReady() {
    this.resize();
    this.view.fit();
    this.emit();
    this.requestDraw();
  }

  // -- view ---------------------------------------------------------------------------------------

  get scale() {
    return this.view.scale;
  }

  get offsetX() {
    return this.view.offsetX;
  }

  get offsetY() {
    return this.view.offsetY;
  }

  resize() {
    const ratio = window.devicePixelRatio || 1;
    const width = this.wrap.clientWidth;
    const height = this.wrap.clientHeight;
    this.canvas.width = Math.max(1, Math.round(width * ratio));
    this.canvas.height = Math.max(1, Math.round(height * ratio));
    if (width && height) this.view.resize(width, height, this.pointer);
    this.emit();
    this.requestDraw();
  }

  fit() {
    this.view.fit();
    this.emit();
    this.requestDraw();
  }

  zoomAt(screenX, screenY, factor) {
    this.view.zoomAt(screenX, screenY, factor);
    this.emit();
    this.requestDraw();
  }

  zoom(factor) {
    this.zoomAt(this.wrap.clientWidth / 2, this.wrap.clientHeight / 2, factor);
  }

  toImage(event) {
    const rect = this.canvas.getBoundingClientRect();
    return this.view.toImage(event.clientX - rect.left, event.clientY - rect.top);
  }

  // -- tools and what is shown --------------------------------------------------------------------

  setTool(tool) {
    if (!TOOLS.includes(tool) || (!this.editable && EDIT_TOOLS.has(tool))) return;
    if (tool !== "polygon") this.tools.polygon = [];
    if (tool !== "segment") this.segmentation.reset();
    this.tool = tool;
    this.canvas.dataset.tool = tool;
    this.hint(this.toolHint());
    this.emit();
    this.requestDraw();
  }

  toolHint() {
    return {
      select: gettext("Click a region to select it (Shift+click: several); drag to pan. Drag a polygon's corners to reshape it."),
      brush: gettext("Paint the selected region (or a new one of the current class). [ and ] change the size."),
      eraser: gettext("Erase from the selected region."),
      polygon: gettext("Click the corners; Enter or double-click closes the polygon, Esc cancels."),
      box: gettext("Drag a box around the defect."),
      segment: gettext("Click the defect (Shift+click or right-click: not the defect). Enter accepts the proposal."),
    }[this.tool];
  }

  setBrushSize(size) {
    this.brushSize = Math.max(1, Math.min(200, Math.round(size)));
    this.hint(gettext("Brush size %(size)s px", { size: this.brushSize }));
    this.emit();
    this.requestDraw();
  }

  setOpacity(value) {
    this.opacity = Math.max(0, Math.min(1, value));
    this.emit();
    this.requestDraw();
  }

  setDisplayMode(mode) {
    if (!DISPLAY_MODES.includes(mode) || mode === "hidden") return;
    this.displayMode = mode;
    this.emit();
    this.requestDraw();
  }

  /** The image's brightness / contrast (-100..100), gamma (0.2..5), invert. Display only. */
  setAdjustments(settings) {
    this.display.set(settings);
    this.emit();
    this.requestDraw();
  }

  /** The class keys hidden now. */
  get hidden() {
    return new Set([...this.classModes].filter(([, mode]) => mode === "hidden").map(([key]) => key));
  }

  classMode(key) {
    return this.classModes.get(key) || this.displayMode;
  }

  /** How a region is shown now: its own mode, else its class's, else the page's; hidden when
   * only the selection is shown and it is not selected. */
  regionMode(region) {
    if (this.selectedOnly && !this.isSelected(region.uid)) return "hidden";
    return this.regionModes.get(region.uid) || this.classMode(classKey(region));
  }

  /** 1-9: a class shown or hidden. */
  toggleClass(key) {
    this.setClassMode(key, this.classMode(key) === "hidden" ? null : "hidden");
  }

  /** The legend's button: fill -> outline -> hidden -> fill. */
  cycleClassMode(key) {
    this.setClassMode(key, DISPLAY_MODES[(DISPLAY_MODES.indexOf(this.classMode(key)) + 1) % DISPLAY_MODES.length]);
  }

  setClassMode(key, mode) {
    if (mode === null) this.classModes.delete(key);
    else this.classModes.set(key, mode);
    this.emit();
    this.requestDraw();
  }

  cycleRegionMode(uid) {
    const region = this.store.state.regions.find((r) => r.uid === uid);
    if (!region) return;
    const current = this.regionModes.get(uid) || this.classMode(classKey(region));
    const next = DISPLAY_MODES[(DISPLAY_MODES.indexOf(current) + 1) % DISPLAY_MODES.length];
    this.regionModes.set(uid, next);
    this.emit();
    this.requestDraw();
  }

  showAllClasses() {
    this.classModes.clear();
    this.regionModes.clear();
    this.selectedOnly = false;
    this.emit();
    this.requestDraw();
  }

  setSelectedOnly(on) {
    this.selectedOnly = on;
    this.emit();
    this.requestDraw();
  }

  toggleLock(uid) {
    if (this.locked.has(uid)) this.locked.delete(uid);
    else this.locked.add(uid);
    this.emit();
  }

  isLocked(uid) {
    return this.locked.has(uid);
  }

  /** After a save the regions have new uids (the server's answer): keep what the page shows of
   * each (its mode, its lock) on its successor. */
  carryRegionFlags(uids) {
    const move = (map) => new Map([...map].filter(([uid]) => uids.has(uid)).map(([uid, value]) => [uids.get(uid), value]));
    this.regionModes = move(this.regionModes);
    this.locked = new Set([...this.locked].filter((uid) => uids.has(uid)).map((uid) => uids.get(uid)));
    if (this.selected !== null && uids.has(this.selected)) this.selected = uids.get(this.selected);
    this.alsoSelected = new Set([...this.alsoSelected].filter((uid) => uids.has(uid)).map((uid) => uids.get(uid)));
    this.emit();
  }

  /** The compared revision's regions as dashed outlines (null clears). */
  setComparison(comparison) {
    this.comparison = comparison;
    this.emit();
    this.requestDraw();
  }

  toggleComparisonOutlines() {
    if (!this.comparison) return;
    this.comparison.visible = !this.comparison.visible;
    this.emit();
    this.requestDraw();
  }

  select(uid, { add = false } = {}) {
    if (add && uid !== null && this.selected !== null && uid !== this.selected) {
      if (this.alsoSelected.has(uid)) this.alsoSelected.delete(uid);
      else this.alsoSelected.add(uid);
    } else {
      this.selected = uid;
      this.alsoSelected.clear();
    }
    this.emit();
    this.requestDraw();
  }

  isSelected(uid) {
    return uid === this.selected || this.alsoSelected.has(uid);
  }

  selectedRegion() {
    return this.store.state.regions.find((r) => r.uid === this.selected) || null;
  }

  selectedRegions() {
    return this.store.state.regions.filter((r) => this.isSelected(r.uid));
  }

  deleteSelected() {
    if (!this.editable || this.selected === null) return;
    const uid = this.selected;
    if (this.isLocked(uid)) {
      this.hint(gettext("This region is locked: unlock it to edit it."));
      return;
    }
    this.store.update((state) => removeRegion(state, uid));
    this.select(null);
  }

  /** Merge the selected regions into one (the first's defect type); one undo step. */
  mergeSelected() {
    const regions = this.selectedRegions();
    if (!this.editable || regions.length < 2) {
      this.hint(gettext("Select two or more regions to merge (Shift+click adds one)."));
      return;
    }
    if (regions.some((r) => this.isLocked(r.uid))) {
      this.hint(gettext("A locked region cannot be merged: unlock it first."));
      return;
    }
    const { width, height } = this.sample;
    const mask = unionMasks(regions.map((r) => r.mask || boxMask(r.bbox, width, height)), width * height);
    const { bbox, area } = maskGeometry(mask, width, height);
    const primary = this.selectedRegion() || regions[0];
    const merged = newRegion({ defectType: primary.defect_type, mask, bbox, area, width, height });
    this.store.update((state) => replaceRegions(state, regions.map((r) => r.uid), [merged]));
    this.select(merged.uid);
    this.hint(gettext("Merged %(count)s regions.", { count: regions.length }));
  }

  /** Split the selected region into its connected parts, each a region of the same type. */
  splitSelected() {
    const region = this.selectedRegion();
    if (!this.editable || !region || !region.mask) {
      this.hint(gettext("Select a mask region to split it into its separate parts."));
      return;
    }
    if (this.isLocked(region.uid)) {
      this.hint(gettext("This region is locked: unlock it to edit it."));
      return;
    }
    const { width, height } = this.sample;
    const parts = connectedComponents(region.mask, width, height);
    if (parts.length < 2) {
      this.hint(gettext("This region is in one piece: nothing to split."));
      return;
    }
    const pieces = parts.map((mask) => {
      const { bbox, area } = maskGeometry(mask, width, height);
      return newRegion({ defectType: region.defect_type, mask, bbox, area, width, height });
    });
    this.store.update((state) => replaceRegions(state, [region.uid], pieces));
    this.select(pieces[0].uid);
    this.hint(gettext("Split into %(count)s regions.", { count: pieces.length }));
  }

  addMaskRegion(mask, polygon = null) {
    const { width, height } = this.sample;
    const { bbox, area } = maskGeometry(mask, width, height);
    if (!area) return null;
    const region = newRegion({ defectType: this.currentClass(), mask, bbox, area, width, height, polygon });
    this.store.update((state) => ({ ...state, regions: [...state.regions, region] }));
    this.select(region.uid);
    return region;
  }

  hint(text) {
    this.hintElement.textContent = text || "";
  }

  /** Enter: accept the proposal or close the polygon. Returns whether it did something. */
  accept() {
    if (this.tool === "segment") return this.segmentation.accept();
    if (this.tool === "polygon" && this.tools.polygon.length) {
      this.tools.closePolygon();
      this.requestDraw();
      return true;
    }
    return false;
  }

  /** Escape: drop the clicks, the polygon, the selection. */
  cancel() {
    if (this.segmentation.clicks.length) this.segmentation.cancel();
    else if (this.tools.polygon.length) this.tools.polygon = [];
    else this.select(null);
    this.requestDraw();
  }

  /** Delete/Backspace while drawing a polygon drops its last corner. */
  removeLastPolygonPoint() {
    if (this.tool !== "polygon" || !this.tools.polygon.length) return false;
    this.tools.polygon.pop();
    this.requestDraw();
    return true;
  }

  // -- events -----------------------------------------------------------------------------------

  bindEvents() {
    const canvas = this.canvas;
    canvas.addEventListener("pointerdown", (event) => this.pointerDown(event));
    canvas.addEventListener("pointermove", (event) => this.pointerMove(event));
    canvas.addEventListener("pointerup", () => this.pointerUp());
    canvas.addEventListener("pointerleave", () => {
      this.pointer = null;
      this.showReadout(null);
      this.requestDraw();
    });
    canvas.addEventListener("dblclick", (event) => {
      if (this.tool === "polygon") {
        event.preventDefault();
        this.tools.closePolygon();
        this.requestDraw();
      }
    });
    canvas.addEventListener("contextmenu", (event) => event.preventDefault());
    canvas.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        const point = this.toImage(event);
        this.zoomAt(point.screenX, point.screenY, Math.exp(-event.deltaY * 0.0015));
      },
      { passive: false },
    );
    window.addEventListener("keydown", (event) => {
      if (event.code === "Space" && event.target === canvas) {
        this.spaceHeld = true;
        event.preventDefault();
      }
    });
    window.addEventListener("keyup", (event) => {
      if (event.code === "Space") this.spaceHeld = false;
    });
  }

  startPan(event) {
    this.pan = { x: event.clientX, y: event.clientY, offsetX: this.view.offsetX, offsetY: this.view.offsetY };
    this.canvas.setPointerCapture(event.pointerId);
  }

  pointerDown(event) {
    this.canvas.focus();
    const point = this.toImage(event);
    const panning = event.button === 1 || this.spaceHeld || (event.button === 2 && this.tool !== "segment");
    if (panning) return this.startPan(event);
    if (this.editable && (this.tool === "select" || this.tool === "polygon") && this.tools.grabVertex(point, event.shiftKey)) {
      if (this.tools.vertexDrag) this.canvas.setPointerCapture(event.pointerId);
      this.requestDraw();
      return;
    }
    if (this.tool === "select" || !this.editable) {
      const hit = this.hitTest(point);
      if (hit === null) {
        if (!event.shiftKey) this.select(null);
        this.startPan(event);
      } else {
        this.select(hit, { add: event.shiftKey });
      }
      return;
    }
    switch (this.tool) {
      case "brush":
      case "eraser":
        if (this.tools.beginStroke(point, this.tool === "eraser")) this.canvas.setPointerCapture(event.pointerId);
        break;
      case "polygon":
        if (event.detail < 2) this.tools.addPolygonPoint(point);
        break;
      case "box":
        this.tools.beginBox(point);
        this.canvas.setPointerCapture(event.pointerId);
        break;
      case "segment":
        this.segmentation.addClick(point, !(event.shiftKey || event.button === 2));
        break;
    }
    this.requestDraw();
  }

  pointerMove(event) {
    const point = this.toImage(event);
    this.pointer = point;
    if (this.pan) {
      this.view.panTo(this.pan.offsetX + event.clientX - this.pan.x, this.pan.offsetY + event.clientY - this.pan.y);
      this.emit();
    } else if (this.tools.vertexDrag) this.tools.moveVertex(point);
    else if (this.tools.stroke) this.tools.moveStroke(point);
    else if (this.tools.boxDrag) this.tools.moveBox(point);
    this.showReadout(point);
    this.requestDraw();
  }

  pointerUp() {
    this.pan = null;
    if (this.tools.vertexDrag) this.tools.endVertex();
    if (this.tools.stroke) this.tools.endStroke();
    if (this.tools.boxDrag) this.tools.endBox();
    this.requestDraw();
  }

  /** x, y and the stored pixel's value under the cursor. */
  showReadout(point) {
    if (!this.readout) return;
    if (!point) {
      this.readout.textContent = "";
      return;
    }
    const x = Math.floor(point.x);
    const y = Math.floor(point.y);
    const pixel = this.display.pixelAt(x, y);
    if (x < 0 || y < 0 || x >= this.sample.width || y >= this.sample.height) {
      this.readout.textContent = "";
    } else if (!pixel) {
      this.readout.textContent = `x ${x}  y ${y}`;
    } else {
      const [r, g, b] = pixel;
      const value = r === g && g === b ? gettext("value %(v)s", { v: r }) : `RGB ${r} ${g} ${b}`;
      this.readout.textContent = `x ${x}  y ${y} · ${value}`;
    }
  }

  hitTest(point) {
    const x = Math.floor(point.x);
    const y = Math.floor(point.y);
    const { width, height } = this.sample;
    if (x < 0 || y < 0 || x >= width || y >= height) return null;
    const regions = this.store.state.regions;
    for (let i = regions.length - 1; i >= 0; i -= 1) {
      const region = regions[i];
      if (this.regionMode(region) === "hidden") continue;
      if (region.mask ? region.mask[y * width + x] : inBox(region.bbox, x, y)) return region.uid;
    }
    return null;
  }

  // -- drawing ----------------------------------------------------------------------------------

  requestDraw() {
    if (this.drawPending) return;
    this.drawPending = true;
    requestAnimationFrame(() => {
      this.drawPending = false;
      this.draw();
    });
  }

  /** The fill picture a brush stroke paints into directly, if it is the one shown. */
  cachedFill(uid, mask) {
    return this.painter.cachedFill(uid, mask);
  }

  dropPicture(uid) {
    this.painter.drop(uid);
  }

  draw() {
    this.painter.draw();
    for (const overlay of this.overlays) overlay.draw(this.context, this.view.scale);
    this.segmentation.draw(this.context, this.view.scale);
    this.tools.draw(this.context, this.view.scale, this.pointer, this.tool);
    this.minimap.draw();
    if (this.zoomLabel) this.zoomLabel.textContent = `${Math.round(this.view.scale * 100)}%`;
  }
}

function inBox(bbox, x, y) {
  return bbox && x >= bbox[0] && y >= bbox[1] && x < bbox[0] + bbox[2] && y < bbox[1] + bbox[3];
}
