// Drawing the canvas: the image, each region as its fill or outline picture (painted once per
// mask, colour, mode and outline thickness, then drawn scaled), boxes and the selection, and the
// compared revision's masks as yellow outlines. The viewer decides what is shown; this draws it.

import { classColor, classKey } from "./classes.js";
import { paintMask, paintOutline } from "./mask-painting.js";

const COMPARISON_COLOR = "#ffd400";

export class CanvasPainter {
  constructor(viewer) {
    this.viewer = viewer;
    this.pictures = new Map(); // uid -> {key, canvas, mask, color, mode}
  }

  clear() {
    this.pictures.clear();
  }

  drop(uid) {
    this.pictures.delete(uid);
  }

  /** About two screen pixels at the current zoom, in image pixels. */
  outlineThickness() {
    return Math.max(1, Math.min(16, Math.round(2 / this.viewer.view.scale)));
  }

  /** The region's fill or outline picture, painted once per mask, colour, mode and thickness. */
  picture(region, mode, color) {
    const thickness = mode === "outline" ? this.outlineThickness() : 0;
    const key = `${mode}:${color.join()}:${thickness}`;
    let picture = this.pictures.get(region.uid);
    if (!picture || picture.mask !== region.mask || picture.key !== key) {
      const sample = this.viewer.sample;
      const canvas = mode === "outline" ? paintOutline(region.mask, sample, color, thickness) : paintMask(region.mask, sample, color);
      picture = { key, canvas, mask: region.mask, color, mode };
      this.pictures.set(region.uid, picture);
    }
    return picture;
  }

  /** The fill picture a brush stroke paints into directly, if it is the one shown. */
  cachedFill(uid, mask) {
    const picture = this.pictures.get(uid);
    return picture && picture.mask === mask && picture.mode === "fill" ? picture : null;
  }

  draw() {
    const viewer = this.viewer;
    const context = viewer.context;
    const ratio = window.devicePixelRatio || 1;
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.fillStyle = "#16181d";
    context.fillRect(0, 0, viewer.canvas.width, viewer.canvas.height);
    const s = this.viewer.view.scale;
    context.setTransform(ratio * s, 0, 0, ratio * s, ratio * this.viewer.view.offsetX, ratio * this.viewer.view.offsetY);
    const { width, height } = viewer.sample;
    if (viewer.image) {
      context.imageSmoothingEnabled = s < 2;
      context.drawImage(viewer.image, 0, 0, width, height);
    }
    context.imageSmoothingEnabled = false;
    const live = new Set();
    for (const region of viewer.store.state.regions) {
      live.add(region.uid);
      const mode = viewer.regionMode(region);
      if (mode === "hidden") continue;
      const color = classColor(classKey(region));
      if (region.mask) {
        context.globalAlpha = mode === "outline" ? 1 : viewer.opacity;
        context.drawImage(this.picture(region, mode, color).canvas, 0, 0);
        context.globalAlpha = 1;
      }
      const selected = viewer.isSelected(region.uid);
      if (region.bbox && (selected || !region.mask || mode === "fill")) {
        const [r, g, b] = color;
        context.strokeStyle = selected ? "#ffffff" : `rgb(${r}, ${g}, ${b})`;
        context.lineWidth = (selected ? 2.5 : 1.5) / s;
        context.setLineDash(selected ? [6 / s, 4 / s] : region.mask ? [3 / s, 3 / s] : []);
        context.strokeRect(...region.bbox);
        context.setLineDash([]);
      }
    }
    for (const uid of this.pictures.keys()) if (!live.has(uid)) this.pictures.delete(uid);
    this.drawComparison(context, s);
  }

  drawComparison(context, s) {
    const comparison = this.viewer.comparison;
    if (!comparison || !comparison.visible) return;
    const thickness = this.outlineThickness();
    for (const region of comparison.regions) {
      if (region.mask) {
        if (!region.picture || region.thickness !== thickness) {
          region.picture = paintOutline(region.mask, this.viewer.sample, [255, 212, 0], thickness);
          region.thickness = thickness;
        }
        context.drawImage(region.picture, 0, 0);
      } else if (region.bbox) {
        context.strokeStyle = COMPARISON_COLOR;
        context.lineWidth = 2 / s;
        context.setLineDash([5 / s, 4 / s]);
        context.strokeRect(...region.bbox);
        context.setLineDash([]);
      }
    }
  }
}
