// Where the image is on the canvas: scale and offset (screen = image * scale + offset), fitting,
// zooming about a point, and keeping the view sensible when the canvas changes size.

const FIT_MARGIN = 0.96;
export const MIN_SCALE = 0.05;
export const MAX_SCALE = 64;

export class ViewTransform {
  constructor({ width, height }) {
    this.width = width; // the image, in original pixels
    this.height = height;
    this.scale = 1;
    this.offsetX = 0;
    this.offsetY = 0;
    this.viewWidth = 0; // the canvas, in CSS pixels
    this.viewHeight = 0;
    this.fitted = false; // true until the person zooms or pans: then a resize keeps their view
  }

  fitScale(viewWidth = this.viewWidth, viewHeight = this.viewHeight) {
    return Math.min(viewWidth / this.width, viewHeight / this.height) * FIT_MARGIN;
  }

  fit() {
    if (!this.viewWidth || !this.viewHeight) return;
    this.scale = this.fitScale();
    this.offsetX = (this.viewWidth - this.width * this.scale) / 2;
    this.offsetY = (this.viewHeight - this.height * this.scale) / 2;
    this.fitted = true;
  }

  /** The canvas is now `viewWidth` x `viewHeight`. A fitted view fits again; a zoomed one keeps
   * its zoom relative to the fit and the image point under `anchor` (the cursor, else the
   * centre) where it was, so the defect being looked at stays in view. */
  resize(viewWidth, viewHeight, anchor = null) {
    const before = { width: this.viewWidth, height: this.viewHeight };
    this.viewWidth = viewWidth;
    this.viewHeight = viewHeight;
    if (this.fitted || !before.width || !before.height) {
      this.fit();
      return;
    }
    const ratio = this.fitScale(viewWidth, viewHeight) / this.fitScale(before.width, before.height);
    const point = anchor && anchor.screenX <= viewWidth && anchor.screenY <= viewHeight
      ? anchor
      : { screenX: viewWidth / 2, screenY: viewHeight / 2 };
    const imageX = (point.screenX - this.offsetX) / this.scale;
    const imageY = (point.screenY - this.offsetY) / this.scale;
    this.scale = clamp(this.scale * ratio);
    this.offsetX = point.screenX - imageX * this.scale;
    this.offsetY = point.screenY - imageY * this.scale;
  }

  zoomAt(screenX, screenY, factor) {
    const scale = clamp(this.scale * factor);
    const x = (screenX - this.offsetX) / this.scale;
    const y = (screenY - this.offsetY) / this.scale;
    this.scale = scale;
    this.offsetX = screenX - x * scale;
    this.offsetY = screenY - y * scale;
    this.fitted = false;
  }

  panTo(offsetX, offsetY) {
    this.offsetX = offsetX;
    this.offsetY = offsetY;
    this.fitted = false;
  }

  /** Centre the view on image point (x, y). */
  centreOn(x, y) {
    this.panTo(this.viewWidth / 2 - x * this.scale, this.viewHeight / 2 - y * this.scale);
  }

  toImage(screenX, screenY) {
    return { x: (screenX - this.offsetX) / this.scale, y: (screenY - this.offsetY) / this.scale, screenX, screenY };
  }

  toScreen(x, y) {
    return { x: x * this.scale + this.offsetX, y: y * this.scale + this.offsetY };
  }

  /** The part of the image in view, in image pixels: [x, y, width, height]. */
  visibleRect() {
    const topLeft = this.toImage(0, 0);
    return [topLeft.x, topLeft.y, this.viewWidth / this.scale, this.viewHeight / this.scale];
  }

  /** Whether part of the image is out of view (then the minimap shows where the view is). */
  get zoomedIn() {
    const [x, y, w, h] = this.visibleRect();
    return x > 0.5 || y > 0.5 || x + w < this.width - 0.5 || y + h < this.height - 0.5;
  }
}

function clamp(scale) {
  return Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale));
}
