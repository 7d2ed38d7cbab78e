// The image as shown: brightness, contrast, gamma and invert applied through a lookup table to a
// copy of the pixels (display only: masks and saved data never change), and the raw pixel value
// under the cursor. Loads the original, or the 512x512 letterboxed asset when the browser cannot
// decode the original (TIFF), cropped so its pixels land on the original's coordinates.

export const NEUTRAL = Object.freeze({ brightness: 0, contrast: 0, gamma: 1, invert: false });

/** The 256-entry table for the settings: contrast about mid-grey, then brightness, then gamma. */
export function adjustmentTable({ brightness, contrast, gamma, invert }) {
  const table = new Uint8ClampedArray(256);
  const slope = Math.tan(((contrast / 100) * 0.98 + 1) * (Math.PI / 4)); // -100..100 -> 0..~60
  for (let v = 0; v < 256; v += 1) {
    let x = (v / 255 - 0.5) * slope + 0.5 + brightness / 100;
    x = Math.min(1, Math.max(0, x));
    x = x ** (1 / gamma);
    if (invert) x = 1 - x;
    table[v] = Math.round(x * 255);
  }
  return table;
}

export function isNeutral(settings) {
  return settings.brightness === 0 && settings.contrast === 0 && settings.gamma === 1 && !settings.invert;
}

export class ImageDisplay {
  constructor({ sample, onReady }) {
    this.sample = sample; // {width, height, files}
    this.onReady = onReady;
    this.settings = { ...NEUTRAL };
    this.source = null; // a canvas of the image's pixels, at the loaded picture's resolution
    this.pixels = null; // its RGBA data (null when the browser refuses to read it: another origin)
    this.shown = null; // what draw() paints: the source, or its adjusted copy
    this.load();
  }

  load() {
    const { width, height, files } = this.sample;
    const original = new Image();
    original.onload = () => this.ready(original, [0, 0, original.naturalWidth, original.naturalHeight]);
    original.onerror = () => {
      const asset = new Image();
      asset.onload = () => {
        const size = asset.naturalWidth;
        const scale = size / Math.max(width, height);
        const w = Math.max(1, Math.round(width * scale));
        const h = Math.max(1, Math.round(height * scale));
        this.ready(asset, [Math.floor((size - w) / 2), Math.floor((size - h) / 2), w, h]);
      };
      asset.src = files.asset;
    };
    original.src = files.original;
  }

  ready(picture, [sx, sy, sw, sh]) {
    const canvas = document.createElement("canvas");
    canvas.width = sw;
    canvas.height = sh;
    canvas.getContext("2d").drawImage(picture, sx, sy, sw, sh, 0, 0, sw, sh);
    this.source = canvas;
    try {
      this.pixels = canvas.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, sw, sh).data;
    } catch {
      this.pixels = null; // a picture from another origin (S3 without CORS): no readout, no adjustments
    }
    this.apply();
    this.onReady();
  }

  get adjustable() {
    return this.pixels !== null;
  }

  set(settings) {
    this.settings = { ...this.settings, ...settings };
    this.apply();
  }

  apply() {
    if (!this.source) return;
    if (!this.pixels || isNeutral(this.settings)) {
      this.shown = this.source;
      return;
    }
    const table = adjustmentTable(this.settings);
    const canvas = this.shown && this.shown !== this.source ? this.shown : document.createElement("canvas");
    canvas.width = this.source.width;
    canvas.height = this.source.height;
    const context = canvas.getContext("2d");
    const image = context.createImageData(canvas.width, canvas.height);
    const out = image.data;
    const pixels = this.pixels;
    for (let i = 0; i < pixels.length; i += 4) {
      out[i] = table[pixels[i]];
      out[i + 1] = table[pixels[i + 1]];
      out[i + 2] = table[pixels[i + 2]];
      out[i + 3] = 255;
    }
    context.putImageData(image, 0, 0);
    this.shown = canvas;
  }

  /** The stored pixel under original pixel (x, y): [r, g, b], or null outside or unreadable. */
  pixelAt(x, y) {
    const { width, height } = this.sample;
    if (!this.pixels || x < 0 || y < 0 || x >= width || y >= height) return null;
    const px = Math.min(this.source.width - 1, Math.floor((x * this.source.width) / width));
    const py = Math.min(this.source.height - 1, Math.floor((y * this.source.height) / height));
    const i = (py * this.source.width + px) * 4;
    return [this.pixels[i], this.pixels[i + 1], this.pixels[i + 2]];
  }
}
