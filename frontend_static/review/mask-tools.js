// The drawing tools: brush and eraser strokes, polygons (drawn, then their vertices dragged;
// Shift+click deletes one), boxes. Each edit is one undo step; an edited region loses its server
// id (regions are immutable on the server: an edited region is a new region).

import { fillPolygon } from "./mask-geometry.js";
import { repaintRect } from "./mask-painting.js";
import { boxMask, maskGeometry } from "./rle.js";
import { newRegion, removeRegion, withRegion } from "./store.js";
import { gettext } from "./text.js";

const VERTEX_GRAB_PX = 7; // how near (screen pixels) a press must be to grab a vertex

export class MaskTools {
  constructor(viewer) {
    this.viewer = viewer;
    this.polygon = []; // the polygon being drawn
    this.boxDrag = null;
    this.stroke = null;
    this.vertexDrag = null;
    this.strokeCount = 0;
  }

  get sample() {
    return this.viewer.sample;
  }

  get store() {
    return this.viewer.store;
  }

  // -- brush and eraser -------------------------------------------------------------------------

  beginStroke(point, erase) {
    const viewer = this.viewer;
    const { width, height } = this.sample;
    let region = viewer.selectedRegion();
    const group = `stroke-${++this.strokeCount}`;
    if (region && viewer.isLocked(region.uid)) {
      viewer.hint(gettext("This region is locked: unlock it to edit it."));
      return false;
    }
    if (!region) {
      if (erase) {
        viewer.hint(gettext("Select a region to erase from."));
        return false;
      }
      const created = newRegion({ defectType: viewer.currentClass(), mask: new Uint8Array(width * height), bbox: null, area: 0, width, height });
      this.store.update((state) => ({ ...state, regions: [...state.regions, created] }), { group });
      viewer.select(created.uid);
      region = created;
    } else {
      // Brushing turns a polygon into a plain mask: its vertices no longer describe it.
      const mask = region.mask ? region.mask.slice() : boxMask(region.bbox, width, height);
      this.store.update((state) => withRegion(state, region.uid, (r) => ({ ...r, id: null, mask, polygon: null })), { group });
      region = viewer.selectedRegion();
    }
    this.stroke = { uid: region.uid, mask: region.mask, value: erase ? 0 : 1, last: point, group };
    this.paintLine(point, point);
    return true;
  }

  moveStroke(point) {
    this.paintLine(this.stroke.last, point);
    this.stroke.last = point;
  }

  paintLine(from, to) {
    const size = this.viewer.brushSize;
    const steps = Math.max(1, Math.ceil(Math.hypot(to.x - from.x, to.y - from.y) / Math.max(1, size / 4)));
    for (let i = 0; i <= steps; i += 1) {
      const t = i / steps;
      this.dab(from.x + (to.x - from.x) * t, from.y + (to.y - from.y) * t);
    }
  }

  dab(cx, cy) {
    const { width, height } = this.sample;
    const radius = this.viewer.brushSize / 2;
    const x0 = Math.max(0, Math.floor(cx - radius));
    const x1 = Math.min(width - 1, Math.ceil(cx + radius));
    const y0 = Math.max(0, Math.floor(cy - radius));
    const y1 = Math.min(height - 1, Math.ceil(cy + radius));
    const { mask, value, uid } = this.stroke;
    for (let y = y0; y <= y1; y += 1) {
      for (let x = x0; x <= x1; x += 1) {
        if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= radius * radius) mask[y * width + x] = value;
      }
    }
    const picture = this.viewer.cachedFill(uid, mask);
    if (picture) repaintRect(picture.canvas, mask, width, picture.color, x0, y0, x1, y1);
    this.viewer.requestDraw();
  }

  endStroke() {
    const { uid, mask, group } = this.stroke;
    this.stroke = null;
    const { width, height } = this.sample;
    const { bbox, area } = maskGeometry(mask, width, height);
    if (!area) {
      this.store.update((state) => removeRegion(state, uid), { group });
      this.viewer.select(null);
      return;
    }
    this.viewer.dropPicture(uid); // the outline (if shown) is of the mask before the stroke
    this.store.update((state) => withRegion(state, uid, (r) => ({ ...r, bbox, area })), { group });
  }

  // -- polygons -----------------------------------------------------------------------------------

  addPolygonPoint(point) {
    this.polygon.push([point.x, point.y]);
  }

  closePolygon() {
    const polygon = this.polygon;
    this.polygon = [];
    if (polygon.length < 3) return null;
    return this.viewer.addMaskRegion(fillPolygon(polygon, this.sample.width, this.sample.height), polygon);
  }

  /** The vertex of the selected region's polygon under the screen point, or -1. */
  vertexAt(point) {
    const region = this.viewer.selectedRegion();
    if (!region || !region.polygon) return -1;
    const scale = this.viewer.view.scale;
    let best = -1;
    let bestDistance = VERTEX_GRAB_PX;
    region.polygon.forEach(([x, y], i) => {
      const distance = Math.hypot(x - point.x, y - point.y) * scale;
      if (distance <= bestDistance) {
        best = i;
        bestDistance = distance;
      }
    });
    return best;
  }

  /** Press on a vertex of the selected polygon: Shift deletes it, else starts dragging it. */
  grabVertex(point, remove) {
    const index = this.vertexAt(point);
    if (index < 0) return false;
    const region = this.viewer.selectedRegion();
    if (this.viewer.isLocked(region.uid)) {
      this.viewer.hint(gettext("This region is locked: unlock it to edit it."));
      return true;
    }
    if (remove) {
      if (region.polygon.length <= 3) this.viewer.hint(gettext("A polygon needs at least three corners."));
      else this.reshape(region.uid, region.polygon.filter((_, i) => i !== index), `vertex-delete-${++this.strokeCount}`);
      return true;
    }
    this.vertexDrag = { uid: region.uid, index, group: `vertex-${++this.strokeCount}` };
    return true;
  }

  moveVertex(point) {
    const { uid, index, group } = this.vertexDrag;
    const region = this.store.state.regions.find((r) => r.uid === uid);
    if (!region) return;
    const { width, height } = this.sample;
    const x = Math.min(width, Math.max(0, point.x));
    const y = Math.min(height, Math.max(0, point.y));
    this.reshape(uid, region.polygon.map((vertex, i) => (i === index ? [x, y] : vertex)), group);
  }

  endVertex() {
    this.vertexDrag = null;
  }

  reshape(uid, polygon, group) {
    const { width, height } = this.sample;
    const mask = fillPolygon(polygon, width, height);
    const { bbox, area } = maskGeometry(mask, width, height);
    if (!area) return;
    this.store.update((state) => withRegion(state, uid, (r) => ({ ...r, id: null, mask, bbox, area, polygon })), { group });
  }

  // -- boxes -------------------------------------------------------------------------------------

  beginBox(point) {
    this.boxDrag = { x0: point.x, y0: point.y, x1: point.x, y1: point.y };
  }

  moveBox(point) {
    this.boxDrag.x1 = point.x;
    this.boxDrag.y1 = point.y;
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
    const region = newRegion({ defectType: this.viewer.currentClass(), mask: null, bbox, area: bbox[2] * bbox[3], width, height });
    this.store.update((state) => ({ ...state, regions: [...state.regions, region] }));
    this.viewer.select(region.uid);
  }

  // -- drawing what is in progress ---------------------------------------------------------------

  draw(context, scale, pointer, tool) {
    if (this.polygon.length) {
      context.strokeStyle = "#fff";
      context.fillStyle = "rgba(255, 255, 255, 0.15)";
      context.lineWidth = 1.5 / scale;
      context.beginPath();
      this.polygon.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y)));
      if (pointer) context.lineTo(pointer.x, pointer.y);
      context.fill();
      context.stroke();
      for (const [x, y] of this.polygon) context.fillRect(x - 2 / scale, y - 2 / scale, 4 / scale, 4 / scale);
    }
    const selected = this.viewer.selectedRegion();
    if (selected && selected.polygon && (tool === "select" || tool === "polygon")) {
      context.lineWidth = 1.2 / scale;
      for (const [x, y] of selected.polygon) {
        context.fillStyle = "#fff";
        context.strokeStyle = "#111";
        context.fillRect(x - 3.5 / scale, y - 3.5 / scale, 7 / scale, 7 / scale);
        context.strokeRect(x - 3.5 / scale, y - 3.5 / scale, 7 / scale, 7 / scale);
      }
    }
    if (this.boxDrag) {
      const { x0, y0, x1, y1 } = this.boxDrag;
      context.strokeStyle = "#fff";
      context.lineWidth = 1.5 / scale;
      context.strokeRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
    }
    if (pointer && (tool === "brush" || tool === "eraser")) {
      context.strokeStyle = tool === "brush" ? "#fff" : "#f87171";
      context.lineWidth = 1 / scale;
      context.beginPath();
      context.arc(pointer.x, pointer.y, this.viewer.brushSize / 2, 0, Math.PI * 2);
      context.stroke();
    }
  }
}
