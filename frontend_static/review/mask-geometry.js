// Geometry on masks (Uint8Array, width*height, row-major, 1 = in the region): polygons filled the
// way the server would read them, connected components (split), union (merge), IoU and region
// matching (the review diff), and outline pixels (outline display). Plain functions with no DOM,
// so node runs their tests (tests/frontend/).

/** Fill a polygon [[x, y], ...] (original pixels, corners at pixel edges): a pixel is in when its
 * centre is inside (even-odd rule), as a scanline over the centres' rows. */
export function fillPolygon(polygon, width, height) {
  const mask = new Uint8Array(width * height);
  const n = polygon.length;
  if (n < 3) return mask;
  const crossings = [];
  for (let y = 0; y < height; y += 1) {
    const cy = y + 0.5;
    crossings.length = 0;
    for (let i = 0, j = n - 1; i < n; j = i, i += 1) {
      const [xi, yi] = polygon[i];
      const [xj, yj] = polygon[j];
      // Half-open on y so a vertex on the scanline counts once.
      if (yi <= cy !== yj <= cy) crossings.push(xi + ((cy - yi) * (xj - xi)) / (yj - yi));
    }
    crossings.sort((a, b) => a - b);
    for (let k = 0; k + 1 < crossings.length; k += 2) {
      // Pixels whose centre x + 0.5 lies in [left, right).
      const from = Math.max(0, Math.ceil(crossings[k] - 0.5));
      const to = Math.min(width, Math.ceil(crossings[k + 1] - 0.5));
      if (to > from) mask.fill(1, y * width + from, y * width + to);
    }
  }
  return mask;
}

/** The 8-connected components of a mask, largest first: [Uint8Array, ...]. */
export function connectedComponents(mask, width, height) {
  const labels = new Int32Array(width * height);
  const sizes = [0];
  const stack = new Int32Array(width * height);
  let next = 0;
  for (let start = 0; start < mask.length; start += 1) {
    if (!mask[start] || labels[start]) continue;
    next += 1;
    let top = 0;
    stack[top++] = start;
    labels[start] = next;
    let size = 0;
    while (top) {
      const index = stack[--top];
      size += 1;
      const x = index % width;
      const y = (index - x) / width;
      for (let dy = -1; dy <= 1; dy += 1) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx += 1) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const neighbour = ny * width + nx;
          if (mask[neighbour] && !labels[neighbour]) {
            labels[neighbour] = next;
            stack[top++] = neighbour;
          }
        }
      }
    }
    sizes.push(size);
  }
  const order = Array.from({ length: next }, (_, i) => i + 1).sort((a, b) => sizes[b] - sizes[a] || a - b);
  return order.map((label) => {
    const component = new Uint8Array(width * height);
    for (let i = 0; i < labels.length; i += 1) if (labels[i] === label) component[i] = 1;
    return component;
  });
}

/** The union of several masks. */
export function unionMasks(masks, size) {
  const union = new Uint8Array(size);
  for (const mask of masks) for (let i = 0; i < size; i += 1) if (mask[i]) union[i] = 1;
  return union;
}

/** Intersection over union of two masks; null when both are empty. */
export function maskIoU(a, b) {
  let intersection = 0;
  let union = 0;
  for (let i = 0; i < a.length; i += 1) {
    if (a[i] || b[i]) {
      union += 1;
      if (a[i] && b[i]) intersection += 1;
    }
  }
  return union ? intersection / union : null;
}

/** Pair the regions of two revisions by mask overlap, greedily, best IoU first (a pair needs some
 * overlap). Returns {pairs: [{before, after, iou}], removed: [before...], added: [after...]}. */
export function matchRegions(before, after, maskOf) {
  const candidates = [];
  before.forEach((b, i) => {
    after.forEach((a, j) => {
      const iou = maskIoU(maskOf(b), maskOf(a));
      if (iou) candidates.push({ i, j, iou });
    });
  });
  candidates.sort((x, y) => y.iou - x.iou || x.i - y.i || x.j - y.j);
  const usedBefore = new Set();
  const usedAfter = new Set();
  const pairs = [];
  for (const { i, j, iou } of candidates) {
    if (usedBefore.has(i) || usedAfter.has(j)) continue;
    usedBefore.add(i);
    usedAfter.add(j);
    pairs.push({ before: before[i], after: after[j], iou });
  }
  return {
    pairs,
    removed: before.filter((_, i) => !usedBefore.has(i)),
    added: after.filter((_, j) => !usedAfter.has(j)),
  };
}

/** The mask's border `thickness` pixels deep: its pixels within that chessboard distance of a
 * pixel outside it (the image's edge counts as outside). Two chamfer passes, whatever the thickness. */
export function borderMask(mask, width, height, thickness = 1) {
  const limit = thickness + 1;
  const distance = new Uint16Array(width * height);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const i = y * width + x;
      if (!mask[i]) continue;
      let d = limit;
      if (x === 0 || y === 0 || x === width - 1 || y === height - 1) d = 1;
      else d = Math.min(d, distance[i - 1] + 1, distance[i - width - 1] + 1, distance[i - width] + 1, distance[i - width + 1] + 1);
      distance[i] = d;
    }
  }
  const border = new Uint8Array(width * height);
  for (let y = height - 1; y >= 0; y -= 1) {
    for (let x = width - 1; x >= 0; x -= 1) {
      const i = y * width + x;
      if (!mask[i]) continue;
      let d = distance[i];
      if (x < width - 1 && y < height - 1 && x > 0) {
        d = Math.min(d, distance[i + 1] + 1, distance[i + width + 1] + 1, distance[i + width] + 1, distance[i + width - 1] + 1);
      }
      distance[i] = d;
      if (d <= thickness) border[i] = 1;
    }
  }
  return border;
}
