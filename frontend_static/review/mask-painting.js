// Masks as pictures: a region's fill or outline painted once into a canvas of the image's size,
// which the viewer draws scaled (cheap per frame); the viewer keeps them per region and redraws
// one only when its mask, colour, display mode or outline thickness changes.

import { borderMask } from "./mask-geometry.js";

export function paintMask(mask, { width, height }, [r, g, b]) {
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

/** The outline `thickness` image pixels deep (the viewer picks it so it is about two screen
 * pixels wide at the current zoom: a thin scratch's outline stays visible zoomed out, and
 * zoomed in the defect's own pixels show inside it). */
export function paintOutline(mask, sample, color, thickness) {
  return paintMask(borderMask(mask, sample.width, sample.height, thickness), sample, color);
}

/** Paint the pixels of `mask` in [x0..x1] x [y0..y1] into an existing fill canvas (brush strokes). */
export function repaintRect(canvas, mask, width, [r, g, b], x0, y0, x1, y1) {
  const context = canvas.getContext("2d");
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  const image = context.createImageData(w, h);
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
}
