// Defect classes on the image: each defect type keeps one colour on every sample (picked from its
// term id), so an expert learns that, say, orange is a scratch. Regions without a type are grey.

const PALETTE = [
  [230, 25, 75], [60, 180, 75], [255, 160, 20], [0, 130, 200], [145, 30, 180], [70, 220, 220],
  [240, 50, 230], [170, 220, 40], [250, 120, 120], [0, 128, 128], [170, 110, 40], [128, 0, 0],
];
const UNTYPED = [150, 150, 150];

export function classKey(region) {
  return region.defect_type ? String(region.defect_type.id) : "none";
}

export function classColor(key) {
  if (key === "none") return UNTYPED;
  return PALETTE[Number(key) % PALETTE.length];
}

export function cssColor(key, alpha = 1) {
  const [r, g, b] = classColor(key);
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

/** The classes present on the sample, in order of first appearance: [{key, term, count}]. */
export function legendClasses(regions) {
  const classes = new Map();
  for (const region of regions) {
    const key = classKey(region);
    if (!classes.has(key)) classes.set(key, { key, term: region.defect_type, count: 0 });
    classes.get(key).count += 1;
  }
  return [...classes.values()];
}
