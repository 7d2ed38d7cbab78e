// COCO run-length encoding, as the platform stores masks: column-major runs starting with zeros.
// In the browser a mask is a Uint8Array of width*height in row-major order (1 = in the region).

export function decodeRle(rle) {
  const [height, width] = rle.size;
  const counts = rle.counts; // the server always sends uncompressed runs
  const mask = new Uint8Array(width * height);
  let index = 0; // position in column-major order
  for (let run = 0; run < counts.length; run += 1) {
    const length = counts[run];
    if (run % 2 === 1) {
      for (let k = index; k < index + length; k += 1) {
        const column = Math.floor(k / height);
        const row = k - column * height;
        mask[row * width + column] = 1;
      }
    }
    index += length;
  }
  return mask;
}

export function encodeRle(mask, width, height) {
  const counts = [];
  let current = 0;
  let run = 0;
  for (let column = 0; column < width; column += 1) {
    for (let row = 0; row < height; row += 1) {
      const value = mask[row * width + column] ? 1 : 0;
      if (value === current) run += 1;
      else {
        counts.push(run);
        current = value;
        run = 1;
      }
    }
  }
  counts.push(run);
  return { size: [height, width], counts };
}

/** [x, y, width, height] of the mask's pixels and their count; null bbox for an empty mask. */
export function maskGeometry(mask, width, height) {
  let minX = width;
  let minY = height;
  let maxX = -1;
  let maxY = -1;
  let area = 0;
  for (let y = 0; y < height; y += 1) {
    const offset = y * width;
    for (let x = 0; x < width; x += 1) {
      if (mask[offset + x]) {
        area += 1;
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
    }
  }
  const bbox = area ? [minX, minY, maxX - minX + 1, maxY - minY + 1] : null;
  return { bbox, area };
}

export function boxMask(bbox, width, height) {
  const mask = new Uint8Array(width * height);
  const [x, y, w, h] = bbox.map(Math.round);
  for (let row = Math.max(0, y); row < Math.min(height, y + h); row += 1) {
    mask.fill(1, row * width + Math.max(0, x), row * width + Math.min(width, x + w));
  }
  return mask;
}
