// The working copy of one annotation: what the expert sees and edits, with undo/redo.
//
// Every change makes a new state object (the parts that did not change are shared), so undo is
// a step back in a list and "has anything changed since the last save" is one comparison.
// Region masks are Uint8Arrays; an edited region gets a new array and loses its server id,
// because regions are immutable on the server: an edited region is a new region.

import { decodeRle, encodeRle } from "./rle.js";

const HISTORY_LIMIT = 100;
let nextUid = 1;

export function regionFromServer(region, width, height) {
  return {
    uid: nextUid++,
    id: region.id,
    defect_type: region.defect_type,
    raw_label: region.raw_label || "",
    bbox: region.bbox,
    area: region.area,
    mask: region.mask_rle ? decodeRle(region.mask_rle) : null,
    polygon: null, // the server keeps masks only: a polygon is editable in the session that drew it
    width,
    height,
  };
}

/** A region drawn on the page. `polygon` ([[x, y], ...] in original pixels) stays with it, its
 * vertices editable, until a brush or eraser changes the mask. */
export function newRegion({ defectType, mask, bbox, area, width, height, polygon = null }) {
  return { uid: nextUid++, id: null, defect_type: defectType, raw_label: "", bbox, area, mask, polygon, width, height };
}

/** The state of a server content (AnnotationDetail.content). */
export function stateFromContent(content, width, height) {
  const regions = content.regions.map((r) => regionFromServer(r, width, height));
  const byId = new Map(regions.map((r) => [r.id, r.uid]));
  const captions = {};
  for (const [language, caption] of Object.entries(content.captions || {})) captions[language] = caption.text;
  return {
    fields: Object.fromEntries(Object.entries(content.fields).map(([name, terms]) => [name, terms.slice()])),
    regions,
    captions,
    notes: content.notes || "",
    qa_pairs: content.qa_pairs.map((pair) => ({
      question: pair.question,
      answer: pair.answer,
      language: pair.language,
      regions: pair.regions.map((id) => byId.get(id)).filter(Boolean),
    })),
  };
}

export class Store {
  constructor(state) {
    this.listeners = new Set();
    this.reset(state);
  }

  /** A new base (after loading): nothing to undo, nothing unsaved. */
  reset(state) {
    this.state = state;
    this.saved = state;
    this.past = [];
    this.future = [];
    this.lastGroup = null;
    this.emit("reset");
  }

  /** The server's copy after a save: nothing unsaved, but the undo history stays, so Ctrl+Z after
   * Ctrl+S takes back the last edit (the undone state is then unsaved, and the next save sends it). */
  rebase(state) {
    this.state = state;
    this.saved = state;
    this.lastGroup = null;
    this.emit("rebase");
  }

  get dirty() {
    return this.state !== this.saved;
  }

  /** Apply `change(state) -> new state`. Changes with the same `group` (typing in one field)
   * merge into one undo step while they follow each other. */
  update(change, { group = null } = {}) {
    const next = change(this.state);
    if (next === this.state) return;
    if (!(group && group === this.lastGroup)) {
      this.past.push(this.state);
      if (this.past.length > HISTORY_LIMIT) this.past.shift();
    }
    this.future = [];
    this.lastGroup = group;
    this.state = next;
    this.emit("change");
  }

  undo() {
    if (!this.past.length) return;
    this.future.push(this.state);
    this.state = this.past.pop();
    this.lastGroup = null;
    this.emit("change");
  }

  redo() {
    if (!this.future.length) return;
    this.past.push(this.state);
    this.state = this.future.pop();
    this.lastGroup = null;
    this.emit("change");
  }

  subscribe(listener) {
    this.listeners.add(listener);
  }

  emit(kind) {
    for (const listener of this.listeners) listener(this.state, kind);
  }
}

/** The server's answer to a save lists the regions in the order they were sent: keep what only
 * the page knows of each (its editable polygon) and return {uid before: uid after}. */
export function carryRegionExtras(before, after) {
  const uids = new Map();
  if (before.regions.length !== after.regions.length) return { state: after, uids };
  const regions = after.regions.map((region, i) => {
    const old = before.regions[i];
    uids.set(old.uid, region.uid);
    return old.polygon && old.area === region.area ? { ...region, polygon: old.polygon } : region;
  });
  return { state: { ...after, regions }, uids };
}

// -- helpers for changes -----------------------------------------------------------------------

export function withRegion(state, uid, change) {
  return { ...state, regions: state.regions.map((r) => (r.uid === uid ? change(r) : r)) };
}

export function removeRegion(state, uid) {
  return {
    ...state,
    regions: state.regions.filter((r) => r.uid !== uid),
    qa_pairs: state.qa_pairs.map((pair) => ({ ...pair, regions: pair.regions.filter((u) => u !== uid) })),
  };
}

/** Replace regions (merge, split) by new ones; QA pairs that pointed at a replaced region point
 * at the first new one. */
export function replaceRegions(state, uids, replacements) {
  const gone = new Set(uids);
  const index = state.regions.findIndex((r) => gone.has(r.uid));
  const regions = state.regions.filter((r) => !gone.has(r.uid));
  regions.splice(index < 0 ? regions.length : index, 0, ...replacements);
  const heir = replacements[0] ? replacements[0].uid : null;
  return {
    ...state,
    regions,
    qa_pairs: state.qa_pairs.map((pair) => ({
      ...pair,
      regions: [...new Set(pair.regions.map((u) => (gone.has(u) ? heir : u)).filter((u) => u !== null))],
    })),
  };
}

// -- what the server receives ------------------------------------------------------------------

function regionKey(region) {
  return `r${region.uid}`;
}

/** The save/submit payload: the whole working copy (regions kept by id when unchanged). */
export function contentPayload(state) {
  const fields = {};
  for (const [name, terms] of Object.entries(state.fields)) fields[name] = terms.map((t) => t.id);
  const captions = {};
  for (const language of ["en", "zh", "ja"]) {
    const text = (state.captions[language] || "").trim();
    captions[language] = text ? text : null;
  }
  const byUid = new Map(state.regions.map((r) => [r.uid, r]));
  return {
    fields,
    captions,
    notes: state.notes,
    regions: state.regions.map((region) => {
      if (region.id !== null) return { id: region.id, key: regionKey(region) };
      const item = { key: regionKey(region), defect_type: region.defect_type ? region.defect_type.id : null };
      if (region.mask) item.mask_rle = encodeRle(region.mask, region.width, region.height);
      else item.bbox = region.bbox;
      return item;
    }),
    qa_pairs: state.qa_pairs.map((pair) => ({
      question: pair.question,
      answer: pair.answer,
      language: pair.language,
      regions: pair.regions.map((uid) => byUid.get(uid)).filter(Boolean).map(regionKey),
    })),
  };
}

// -- comparing, for the stale-write dialog -------------------------------------------------------

function regionSignature(region) {
  return `${region.id ?? "new" + region.uid}:${region.defect_type ? region.defect_type.id : ""}`;
}

/** The names of the parts that differ between two states: "fields.product", "captions.ja", ... */
export function changedParts(before, after) {
  const parts = [];
  for (const name of Object.keys(after.fields)) {
    const a = (before.fields[name] || []).map((t) => t.id).join(",");
    const b = after.fields[name].map((t) => t.id).join(",");
    if (a !== b) parts.push(`fields.${name}`);
  }
  for (const language of ["en", "zh", "ja"]) {
    if ((before.captions[language] || "") !== (after.captions[language] || "")) parts.push(`captions.${language}`);
  }
  if (before.notes !== after.notes) parts.push("notes");
  // A region with an id is the server's immutable row; an edited or new one has none (see above).
  if (before.regions.map(regionSignature).join("|") !== after.regions.map(regionSignature).join("|")) parts.push("regions");
  const qa = (s) => JSON.stringify(s.qa_pairs.map((p) => [p.question, p.answer, p.language, p.regions.length]));
  if (qa(before) !== qa(after)) parts.push("qa_pairs");
  return parts;
}

/** `theirs` with my changes (the parts I changed since `base`) put on top. */
export function reapply(base, mine, theirs) {
  const changed = new Set(changedParts(base, mine));
  const result = { ...theirs, fields: { ...theirs.fields }, captions: { ...theirs.captions } };
  for (const part of changed) {
    const [kind, name] = part.split(".");
    if (kind === "fields") result.fields[name] = mine.fields[name];
    else if (kind === "captions") result.captions[name] = mine.captions[name];
    else if (kind === "notes") result.notes = mine.notes;
  }
  if (changed.has("regions")) {
    // My new and edited regions are added to theirs; regions I deleted are deleted from theirs.
    const mineIds = new Set(mine.regions.filter((r) => r.id !== null).map((r) => r.id));
    const baseIds = new Set(base.regions.map((r) => r.id));
    const deletedByMe = new Set([...baseIds].filter((id) => !mineIds.has(id)));
    result.regions = [
      ...theirs.regions.filter((r) => !deletedByMe.has(r.id)),
      ...mine.regions.filter((r) => r.id === null),
    ];
  }
  if (changed.has("qa_pairs") || changed.has("regions")) {
    const present = new Set(result.regions.map((r) => r.uid));
    const pairs = changed.has("qa_pairs") ? mine.qa_pairs : result.qa_pairs;
    result.qa_pairs = pairs.map((p) => ({ ...p, regions: p.regions.filter((u) => present.has(u)) }));
  }
  return result;
}
