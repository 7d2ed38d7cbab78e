// Runs the page's pure modules on cases given as JSON on stdin and prints the results as JSON:
// the Python tests (test_mask_geometry.py) compare them with oracles written independently.
import { readFileSync } from "node:fs";
import { borderMask, connectedComponents, fillPolygon, maskIoU, matchRegions, unionMasks } from "../../frontend_static/review/mask-geometry.js";
import { adjustmentTable } from "../../frontend_static/review/image-display.js";
import { ViewTransform } from "../../frontend_static/review/view.js";

const cases = JSON.parse(readFileSync(0, "utf8"));
const results = cases.map((c) => {
  switch (c.kind) {
    case "fill":
      return Array.from(fillPolygon(c.polygon, c.width, c.height));
    case "components":
      return connectedComponents(Uint8Array.from(c.mask), c.width, c.height).map((m) => Array.from(m));
    case "border":
      return Array.from(borderMask(Uint8Array.from(c.mask), c.width, c.height, c.thickness));
    case "iou":
      return maskIoU(Uint8Array.from(c.a), Uint8Array.from(c.b));
    case "union":
      return Array.from(unionMasks(c.masks.map((m) => Uint8Array.from(m)), c.size));
    case "match": {
      const result = matchRegions(c.before, c.after, (r) => Uint8Array.from(r.mask));
      return { pairs: result.pairs.map((p) => [p.before.name, p.after.name, p.iou]), removed: result.removed.map((r) => r.name), added: result.added.map((r) => r.name) };
    }
    case "table":
      return Array.from(adjustmentTable(c.settings));
    case "view": {
      const view = new ViewTransform({ width: c.width, height: c.height });
      view.resize(c.view[0], c.view[1]);
      for (const step of c.steps) {
        if (step.zoom) view.zoomAt(step.zoom[0], step.zoom[1], step.zoom[2]);
        if (step.resize) view.resize(step.resize[0], step.resize[1], step.anchor ? { screenX: step.anchor[0], screenY: step.anchor[1] } : null);
      }
      const probe = c.probe ? view.toImage(c.probe[0], c.probe[1]) : null;
      return { scale: view.scale, offsetX: view.offsetX, offsetY: view.offsetY, fitted: view.fitted, probe };
    }
    default:
      throw new Error(`unknown case ${c.kind}`);
  }
});
process.stdout.write(JSON.stringify(results));
