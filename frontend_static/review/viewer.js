// The image on a canvas: zoom and pan, regions as coloured overlays, and the editing tools
// (brush, eraser, polygon, box, click-assisted segmentation). Coordinates in the state are
// pixels of the original image, as the server stores masks.

import { post } from "./api.js";
import { classColor, classKey } from "./classes.js";
import { boxMask, decodeRle, maskGeometry } from "./rle.js";
import { newRegion, removeRegion, withRegion } from "./store.js";
import { gettext } from "./text.js";

export const TOOLS = ["select", "brush", "eraser", "polygon", "box", "segment"];
const EDIT_TOOLS = new Set(["brush", "eraser", "polygon", "box", "segment"]);

export class Viewer {
  constructor({ canvas, wrap, hint, store, sample, editable, segmentUrl, currentClass }) {
    this.canvas = canvas;
    this.wrap = wrap;
    this.hintElement = hint;
    this.store = store;
    this.sample = sample; // {id, width, height, files}
    this.editable = editable;
    this.segmentUrl = segmentUrl;
    this.currentClass = currentClass; // () -> the defect type term new regions get
    this.context = canvas.getContext("2d");
    this.scale = 1;
    this.offsetX = 0;
    this.offsetY = 0;
    this.tool = "select";
    this.brushSize = 8;
    this.opacity = 0.5;
    this.hidden = new Set();
    this.selected = null; // a region uid
    this.overlays = new Map(); // uid -> {mask, color, canvas}
    this.polygon = [];
    this.boxDrag = null;
    this.stroke = null;
    this.pan = null;
    this.pointer = null;
    this.spaceHeld = false;
    this.segment = { clicks: [], proposal: null, busy: false, again: false, overlay: null };
    this.listeners = new Set();
    this.strokeCount = 0;
    this.image = null;
    this.imageRect = null; // where the original's pixels are in the loaded picture
    this.loadImage();
    this.bindEvents();
    new ResizeObserver(() => this.resize()).observe(wrap);
    store.subscribe(() => {
      if (this.selected !== null && !store.state.regions.some((r) => r.uid === this.selected)) this.select(null);
      this.requestDraw();
    });
  }

  onChange(listener) {
    this.listeners.add(listener);
  }

  emit() {
    for (const listener of this.listeners) listener(this);
  }

  // -- image and view ---------------------------------------------------------------------------

  loadImage() {
    const { width, height, files } = this.sample;
    const original = new Image();
    original.onload = () => {
      this.image = original;
      this.imageRect = [0, 0, original.naturalWidth, original.naturalHeight];
      this.fit();
    };
    original.onerror = () => {
      // Browsers cannot show every original format (TIFF): use the 512x512 letterboxed asset,
      // cropping the padding so the asset's pixels land on the original's coordinates.
      const asset = new Image();
      asset.onload = () => {
        const size = asset.naturalWidth;
        const scale = size / Math.max(width, height);
        const w = Math.max(1, Math.round(width * scale));
        const h = Math.max(1, Math.round(height * scale));
        this.image = asset;
        this.imageRect = [Math.floor((size - w) / 2), Math.floor((size - h) / 2), w, h];
        this.fit();
      };
      asset.src = files.asset;
    };
    original.src = files.original;
  }

  resize() {
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(this.wrap.clientWidth * ratio));
    this.canvas.height = Math.max(1, Math.round(this.wrap.clientHeight * ratio));
    if (!this.fitted) this.fit();
    this.requestDraw();
  }

  fit() {
    const { width, height } = this.sample;
    const viewWidth = this.wrap.clientWidth;
    const viewHeight = this.wrap.clientHeight;
    if (!viewWidth || !viewHeight) return;
    this.scale = Math.min(viewWidth / width, viewHeight / height) * 0.96;
    this.offsetX = (viewWidth - width * this.scale) / 2;
    this.offsetY = (viewHeight - height * this.scale) / 2;
    this.fitted = true;
    this.requestDraw();
  }

  zoomAt(screenX, screenY, factor) {
    const scale = Math.min(64, Math.max(0.05, this.scale * factor));
    const x = (screenX - this.offsetX) / this.scale;
    const y = (screenY - this.offsetY) / this.scale;
    this.scale = scale;
    this.offsetX = screenX - x * scale;
    this.offsetY = screenY - y * scale;
    this.requestDraw();
  }

  zoom(factor) {
    this.zoomAt(this.wrap.clientWidth / 2, this.wrap.clientHeight / 2, factor);
  }

  toImage(event) {
    const rect = this.canvas.getBoundingClientRect();
    const screenX = event.clientX - rect.left;
    const screenY = event.clientY - rect.top;
    return { x: (screenX - this.offsetX) / this.scale, y: (screenY - this.offsetY) / this.scale, screenX, screenY };
  }

  // -- tools and state --------------------------------------------------------------------------

  setTool(tool) {
    if (!TOOLS.includes(tool) || (!this.editable && EDIT_TOOLS.has(tool))) return;
    if (tool !== "polygon") this.polygon = [];
    if (tool !== "segment") this.cancelSegment();
    this.tool = tool;
    this.canvas.dataset.tool = tool;
    this.hint(this.toolHint());
    this.emit();
    this.requestDraw();
  }

  toolHint() {
    return {
      select: gettext("Click a region to select it; drag to pan."),
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
    this.requestDraw();
  }

  toggleClass(key) {
    if (this.hidden.has(key)) this.hidden.delete(key);
    else this.hidden.add(key);
    this.emit();
    this.requestDraw();
  }

  showAllClasses() {
    this.hidden.clear();
    this.emit();
    this.requestDraw();
  }

  select(uid) {
    this.selected = uid;
    this.emit();
    this.requestDraw();
  }

  selectedRegion() {
    return this.store.state.regions.find((r) => r.uid === this.selected) || null;
  }

  deleteSelected() {
    if (!this.editable || this.selected === null) return;
    const uid = this.selected;
    this.store.update((state) => removeRegion(state, uid));
    this.select(null);
  }

  hint(text) {
    this.hintElement.textContent = text || "";
  }

  // -- events -----------------------------------------------------------------------------------

  bindEvents() {
    const canvas = this.canvas;
    canvas.addEventListener("pointerdown", (event) => this.pointerDown(event));
    canvas.addEventListener("pointermove", (event) => this.pointerMove(event));
    canvas.addEventListener("pointerup", (event) => this.pointerUp(event));
    canvas.addEventListener("pointerleave", () => {
      this.pointer = null;
      this.requestDraw();
    });
    canvas.addEventListener("dblclick", (event) => {
      if (this.tool === "polygon") {
        event.preventDefault();
        this.closePolygon();
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

  pointerDown(event) {
    this.canvas.focus();
    const point = this.toImage(event);
    const panning = event.button === 1 || this.spaceHeld || (event.button === 2 && this.tool !== "segment");
    if (panning || (this.tool === "select" && this.hitTest(point) === null) || (!this.editable && this.tool !== "select")) {
      if (this.tool === "select" && !panning) this.select(null);
      this.pan = { x: event.clientX, y: event.clientY, offsetX: this.offsetX, offsetY: this.offsetY };
      this.canvas.setPointerCapture(event.pointerId);
      return;
    }
    switch (this.tool) {
      case "select":
        this.select(this.hitTest(point));
        break;
      case "brush":
      case "eraser":
        this.beginStroke(point);
        if (this.stroke) this.canvas.setPointerCapture(event.pointerId);
        break;
      case "polygon":
        if (event.detail < 2) this.polygon.push([point.x, point.y]);
        break;
      case "box":
        this.boxDrag = { x0: point.x, y0: point.y, x1: point.x, y1: point.y };
        this.canvas.setPointerCapture(event.pointerId);
        break;
      case "segment":
        this.addClick(point, !(event.shiftKey || event.button === 2));
        break;
    }
    this.requestDraw();
  }

  pointerMove(event) {
    const point = this.toImage(event);
    this.pointer = point;
    if (this.pan) {
      this.offsetX = this.pan.offsetX + event.clientX - this.pan.x;
      this.offsetY = this.pan.offsetY + event.clientY - this.pan.y;
    } else if (this.stroke) {
      this.paintLine(this.stroke.last, point);
      this.stroke.last = point;
    } else if (this.boxDrag) {
      this.boxDrag.x1 = point.x;
      this.boxDrag.y1 = point.y;
    }
    this.requestDraw();
  }

  pointerUp() {
    this.pan = null;
    if (this.stroke) this.endStroke();
    if (this.boxDrag) this.endBox();
    this.requestDraw();
  }

  hitTest(point) {
    const x = Math.floor(point.x);
    const y = Math.floor(point.y);
    const { width, height } = this.sample;
    if (x < 0 || y < 0 || x >= width || y >= height) return null;
    const regions = this.store.state.regions;
    for (let i = regions.length - 1; i >= 0; i -= 1) {
      const region = regions[i];
      if (this.hidden.has(classKey(region))) continue;
      if (region.mask ? region.mask[y * width + x] : inBox(region.bbox, x, y)) return region.uid;
    }
    return null;
  }

  // -- brush and eraser -------------------------------------------------------------------------

  beginStroke(point) {
    const { width, height } = this.sample;
    let region = this.selectedRegion();
    const group = `stroke-${++this.strokeCount}`;
    if (!region) {
      if (this.tool === "eraser") {
        this.hint(gettext("Select a region to erase from."));
        return;
      }
      region = newRegion({ defectType: this.currentClass(), mask: new Uint8Array(width * height), bbox: null, area: 0, width, height });
      const created = region;
      this.store.update((state) => ({ ...state, regions: [...state.regions, created] }), { group });
      this.select(created.uid);
    } else {
      // An edited region is a new region (regions are immutable on the server).
      const mask = region.mask ? region.mask.slice() : boxMask(region.bbox, width, height);
      this.store.update((state) => withRegion(state, region.uid, (r) => ({ ...r, id: null, mask })), { group });
      region = this.selectedRegion();
    }
    this.stroke = { uid: region.uid, mask: region.mask, value: this.tool === "brush" ? 1 : 0, last: point, group };
    this.paintLine(point, point);
  }

  paintLine(from, to) {
    const steps = Math.max(1, Math.ceil(Math.hypot(to.x - from.x, to.y - from.y) / Math.max(1, this.brushSize / 4)));
    for (let i = 0; i <= steps; i += 1) {
      const t = i / steps;
      this.dab(from.x + (to.x - from.x) * t, from.y + (to.y - from.y) * t);
    }
  }

  dab(cx, cy) {
    const { width, height } = this.sample;
    const radius = this.brushSize / 2;
    const x0 = Math.max(0, Math.floor(cx - radius));
    const x1 = Math.min(width - 1, Math.ceil(cx + radius));
    const y0 = Math.max(0, Math.floor(cy - radius));
    const y1 = Math.min(height - 1, Math.ceil(cy + radius));
    const { mask, value } = this.stroke;
    for (let y = y0; y <= y1; y += 1) {
      for (let x = x0; x <= x1; x += 1) {
        if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= radius * radius) mask[y * width + x] = value;
      }
    }
    this.refreshOverlay(this.stroke.uid, mask, x0, y0, x1, y1);
  }

  endStroke() {
    const { uid, mask, group } = this.stroke;
    this.stroke = null;
    const { width, height } = this.sample;
    const { bbox, area } = maskGeometry(mask, width, height);
    if (!area) {
      this.store.update((state) => removeRegion(state, uid), { group });
      this.select(null);
      return;
    }
    this.store.update((state) => withRegion(state, uid, (r) => ({ ...r, bbox, area })), { group });
  }

  // -- polygon and box --------------------------------------------------------------------------

  closePolygon() {
    if (this.polygon.length < 3) {
      this.polygon = [];
      this.requestDraw();
      return;
    }
    const { width, height } = this.sample;
    const scratch = document.createElement("canvas");
    scratch.width = width;
    scratch.height = height;
    const context = scratch.getContext("2d");
    context.fillStyle = "#fff";
    context.beginPath();
    this.polygon.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y)));
    context.closePath();
    context.fill();
    const pixels = context.getImageData(0, 0, width, height).data;
    const mask = new Uint8Array(width * height);
    for (let i = 0; i < mask.length; i += 1) mask[i] = pixels[i * 4 + 3] > 127 ? 1 : 0;
    this.polygon = [];
    this.addMaskRegion(mask);
  }

  endBox() {
    const { x0, y0, x1, y1 } = this.boxDrag;
    this.boxDrag = null;
    const { width, height } = this.sample;
    const left = Math.max(0, Math.round(Math.min(x0, x1)));
    const top = Math.max(0, Math.round(Math.min(y0, y1)));
    const right = Math.min(width, Math.round(Math.max(x0, x1)));
    const bottom = Math.min(height, Math.round(Math.max(y0, y1)));
    if (right - left < 2 || bottom - top < 2) return;
    const bbox = [left, top, right - left, bottom - top];
    const region = newRegion({ defectType: this.currentClass(), mask: null, bbox, area: bbox[2] * bbox[3], width, height });
    this.store.update((state) => ({ ...state, regions: [...state.regions, region] }));
    this.select(region.uid);
  }

  addMaskRegion(mask) {
    const { width, height } = this.sample;
    const { bbox, area } = maskGeometry(mask, width, height);
    if (!area) return null;
    const region = newRegion({ defectType: this.currentClass(), mask, bbox, area, width, height });
    this.store.update((state) => ({ ...state, regions: [...state.regions, region] }));
    this.select(region.uid);
    return region;
  }

  // -- click-assisted segmentation ----------------------------------------------------------------

  addClick(point, positive) {
    const { width, height } = this.sample;
    const x = Math.floor(point.x);
    const y = Math.floor(point.y);
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    if (!this.segment.clicks.length && !positive) {
      this.hint(gettext("The first click marks the defect: click on it."));
      return;
    }
    this.segment.clicks.push({ x, y, positive });
    this.requestProposal();
  }

  /** Where the original's pixels land in the letterboxed square asset the segmentation reads
   * (the same arithmetic as the importer's letterbox_geometry). */
  assetGeometry() {
    const { width, height, assetSize } = this.sample;
    const scale = assetSize / Math.max(width, height);
    const w = Math.max(1, Math.round(width * scale));
    const h = Math.max(1, Math.round(height * scale));
    return { size: assetSize, w, h, left: Math.floor((assetSize - w) / 2), top: Math.floor((assetSize - h) / 2) };
  }

  toAsset({ x, y, positive }) {
    const { width, height } = this.sample;
    const g = this.assetGeometry();
    return {
      x: Math.min(g.left + g.w - 1, g.left + Math.floor(((x + 0.5) * g.w) / width)),
      y: Math.min(g.top + g.h - 1, g.top + Math.floor(((y + 0.5) * g.h) / height)),
      positive,
    };
  }

  /** The asset-sized proposal as a mask of the original's size (nearest pixel). */
  maskFromAsset(assetMask) {
    const { width, height } = this.sample;
    const g = this.assetGeometry();
    const columns = new Int32Array(width);
    for (let x = 0; x < width; x += 1) columns[x] = g.left + Math.min(g.w - 1, Math.floor(((x + 0.5) * g.w) / width));
    const mask = new Uint8Array(width * height);
    for (let y = 0; y < height; y += 1) {
      const row = (g.top + Math.min(g.h - 1, Math.floor(((y + 0.5) * g.h) / height))) * g.size;
      for (let x = 0; x < width; x += 1) mask[y * width + x] = assetMask[row + columns[x]];
    }
    return mask;
  }

  async requestProposal() {
    const segment = this.segment;
    if (segment.busy) {
      segment.again = true;
      return;
    }
    segment.busy = true;
    this.hint(gettext("Segmenting…"));
    this.emit();
    const body = { sample: this.sample.id, clicks: segment.clicks.map((click) => this.toAsset(click)) };
    if (segment.proposal) body.previous_mask = segment.proposal.rle;
    try {
      const data = await post(this.segmentUrl, body);
      if (this.segment !== segment) return; // cancelled meanwhile
      const [h, w] = data.mask.size;
      if (w !== this.sample.assetSize || h !== this.sample.assetSize) throw new Error(gettext("The proposal does not fit the image."));
      const mask = this.maskFromAsset(decodeRle(data.mask));
      const { area } = maskGeometry(mask, this.sample.width, this.sample.height);
      segment.proposal = { rle: data.mask, mask, area };
      segment.overlay = null;
      this.hint(
        area
          ? gettext("Proposal: %(area)s px in %(ms)s ms. Click to refine, Enter to accept, Esc to cancel.", {
              area,
              ms: Math.round(data.elapsed_ms),
            })
          : gettext("No region found at these points: add a click on the defect."),
      );
    } catch (error) {
      if (this.segment === segment) {
        segment.clicks.pop();
        this.hint(gettext("Segmentation failed: %(reason)s", { reason: error.message }));
      }
    } finally {
      segment.busy = false;
      this.emit();
      this.requestDraw();
      if (segment.again && this.segment === segment) {
        segment.again = false;
        this.requestProposal();
      }
    }
  }

  acceptSegment() {
    const proposal = this.segment.proposal;
    if (!proposal || !proposal.area || this.segment.busy) return false;
    this.cancelSegment();
    this.addMaskRegion(proposal.mask);
    this.hint(gettext("Region added."));
    return true;
  }

  cancelSegment() {
    this.segment = { clicks: [], proposal: null, busy: false, again: false, overlay: null };
    this.requestDraw();
  }

  /** Enter: accept the proposal or close the polygon. Returns whether it did something. */
  accept() {
    if (this.tool === "segment") return this.acceptSegment();
    if (this.tool === "polygon" && this.polygon.length) {
      this.closePolygon();
      return true;
    }
    return false;
  }

  /** Escape: drop the clicks, the polygon, the selection. */
  cancel() {
    if (this.segment.clicks.length) this.cancelSegment();
    else if (this.polygon.length) this.polygon = [];
    else this.select(null);
    this.requestDraw();
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

  overlayFor(region) {
    const key = classKey(region);
    const color = classColor(key);
    let overlay = this.overlays.get(region.uid);
    if (!overlay || overlay.mask !== region.mask || overlay.color !== color) {
      overlay = { mask: region.mask, color, canvas: paintMask(region.mask, this.sample, color) };
      this.overlays.set(region.uid, overlay);
    }
    return overlay;
  }

  refreshOverlay(uid, mask, x0, y0, x1, y1) {
    const overlay = this.overlays.get(uid);
    if (!overlay || overlay.mask !== mask) return this.requestDraw();
    const { width } = this.sample;
    const context = overlay.canvas.getContext("2d");
    const w = x1 - x0 + 1;
    const h = y1 - y0 + 1;
    const image = context.createImageData(w, h);
    const [r, g, b] = overlay.color;
    for (let y = 0; y < h; y += 1) {
      for (let x = 0; x < w; x += 1) {
        if (mask[(y0 + y) * width + x0 + x]) {
          const i = (y * w + x) * 4;
          image.data[i] = r;
          image.data[i + 1] = g;
          image.data[i + 2] = b;
          image.data[i + 3] = 255;
        }
      }
    }
    context.putImageData(image, x0, y0);
    this.requestDraw();
  }

  draw() {
    const context = this.context;
    const ratio = window.devicePixelRatio || 1;
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.fillStyle = "#16181d";
    context.fillRect(0, 0, this.canvas.width, this.canvas.height);
    const s = this.scale;
    context.setTransform(ratio * s, 0, 0, ratio * s, ratio * this.offsetX, ratio * this.offsetY);
    const { width, height } = this.sample;
    if (this.image) {
      context.imageSmoothingEnabled = s < 2;
      context.drawImage(this.image, ...this.imageRect, 0, 0, width, height);
    }
    context.imageSmoothingEnabled = false;
    const live = new Set();
    for (const region of this.store.state.regions) {
      live.add(region.uid);
      const key = classKey(region);
      if (this.hidden.has(key)) continue;
      const [r, g, b] = classColor(key);
      if (region.mask) {
        context.globalAlpha = this.opacity;
        context.drawImage(this.overlayFor(region).canvas, 0, 0);
        context.globalAlpha = 1;
      }
      if (region.bbox) {
        const selected = region.uid === this.selected;
        context.strokeStyle = selected ? "#ffffff" : `rgb(${r}, ${g}, ${b})`;
        context.lineWidth = (selected ? 2.5 : 1.5) / s;
        context.setLineDash(selected ? [6 / s, 4 / s] : region.mask ? [3 / s, 3 / s] : []);
        context.strokeRect(...region.bbox);
        context.setLineDash([]);
      }
    }
    for (const uid of this.overlays.keys()) if (!live.has(uid)) this.overlays.delete(uid);
    this.drawSegment(context, s);
    this.drawPolygon(context, s);
    if (this.boxDrag) {
      const { x0, y0, x1, y1 } = this.boxDrag;
      context.strokeStyle = "#fff";
      context.lineWidth = 1.5 / s;
      context.strokeRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
    }
    if (this.pointer && (this.tool === "brush" || this.tool === "eraser")) {
      context.strokeStyle = this.tool === "brush" ? "#fff" : "#f87171";
      context.lineWidth = 1 / s;
      context.beginPath();
      context.arc(this.pointer.x, this.pointer.y, this.brushSize / 2, 0, Math.PI * 2);
      context.stroke();
    }
  }

  drawSegment(context, s) {
    const segment = this.segment;
    if (segment.proposal && segment.proposal.area) {
      if (!segment.overlay) segment.overlay = paintMask(segment.proposal.mask, this.sample, [0, 229, 255]);
      context.globalAlpha = 0.55;
      context.drawImage(segment.overlay, 0, 0);
      context.globalAlpha = 1;
    }
    for (const click of segment.clicks) {
      context.beginPath();
      context.arc(click.x + 0.5, click.y + 0.5, 5 / s, 0, Math.PI * 2);
      context.fillStyle = click.positive ? "#22c55e" : "#ef4444";
      context.fill();
      context.lineWidth = 1.5 / s;
      context.strokeStyle = "#fff";
      context.stroke();
    }
  }

  drawPolygon(context, s) {
    if (!this.polygon.length) return;
    context.strokeStyle = "#fff";
    context.fillStyle = "rgba(255, 255, 255, 0.15)";
    context.lineWidth = 1.5 / s;
    context.beginPath();
    this.polygon.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y)));
    if (this.pointer) context.lineTo(this.pointer.x, this.pointer.y);
    context.fill();
    context.stroke();
    for (const [x, y] of this.polygon) context.fillRect(x - 2 / s, y - 2 / s, 4 / s, 4 / s);
  }
}

function inBox(bbox, x, y) {
  return bbox && x >= bbox[0] && y >= bbox[1] && x < bbox[0] + bbox[2] && y < bbox[1] + bbox[3];
}

function paintMask(mask, { width, height }, [r, g, b]) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  const pixels = new Uint32Array(image.data.buffer);
  // ImageData is RGBA in memory; as little-endian 32-bit words that is 0xAABBGGRR.
  const word = (255 << 24) | (b << 16) | (g << 8) | r;
  for (let i = 0; i < mask.length; i += 1) if (mask[i]) pixels[i] = word;
  context.putImageData(image, 0, 0);
  return canvas;
}
