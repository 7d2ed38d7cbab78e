// Comparing the working copy with another revision: the template fields (terms added and
// removed), the regions (matched by mask overlap, with their IoU; the other revision's masks as
// dashed outlines on the image) and the captions (a word or character diff under each).
//
// What to compare with depends on where the sample is: in a second review round, the revision
// the reviewer sent back (so the reviewer sees what the annotator changed since); for the
// annotator addressing comments, the same; in review round one, the draft; in consensus, the
// annotator's submission (what review changed). Any revision of the history can be picked.

import { get } from "./api.js";
import { classKey, cssColor } from "./classes.js";
import { matchRegions } from "./mask-geometry.js";
import { boxMask } from "./rle.js";
import { stateFromContent } from "./store.js";
import { h, termLabel, gettext } from "./text.js";

/** The choices of the "Compare with" menu, most useful first: [{value, label, number}]. */
export function comparisonChoices({ detail, revisions, mode, stageLabels }) {
  const byId = new Map(revisions.map((r) => [r.id, r]));
  const choices = [];
  const add = (value, label, revision) => {
    if (revision && !choices.some((c) => c.number === revision.number)) choices.push({ value, label, number: revision.number });
  };
  const comments = detail.review_comments || [];
  const lastRound = comments.length ? comments[comments.length - 1] : null;
  if (lastRound) {
    add("sent-back", gettext("what was sent back for changes (round %(round)s, revision %(number)s)", {
      round: lastRound.round,
      number: (byId.get(lastRound.revision) || {}).number,
    }), byId.get(lastRound.revision));
  }
  const ids = detail.revisions;
  if (ids.submitted && ids.submitted !== ids.current) {
    add("submitted", gettext("the annotator's submission (revision %(number)s)", { number: byId.get(ids.submitted)?.number }), byId.get(ids.submitted));
  }
  if (ids.reviewed && ids.reviewed !== ids.current) {
    add("reviewed", gettext("the review's result (revision %(number)s)", { number: byId.get(ids.reviewed)?.number }), byId.get(ids.reviewed));
  }
  const draft = revisions.find((r) => r.stage === "draft");
  if (draft && draft.id !== ids.current) add("draft", gettext("the imported or generated draft (revision %(number)s)", { number: draft.number }), draft);
  for (const revision of [...revisions].reverse()) {
    if (revision.id === ids.current) continue;
    add(`revision-${revision.number}`, gettext("revision %(number)s (%(stage)s)", { number: revision.number, stage: stageLabels[revision.stage] || revision.stage }), revision);
  }
  return choices;
}

/** Which choice opens selected: the one that shows this stage what changed. */
export function defaultChoice(choices, mode, detail) {
  const has = (value) => choices.some((c) => c.value === value);
  const round = detail.review_round || 0;
  if ((mode === "review" || mode === "annotation") && round > 0 && has("sent-back")) return "sent-back";
  if (mode === "review" && has("draft")) return "draft";
  if (mode === "consensus" && has("submitted")) return "submitted";
  return "";
}

export class Comparison {
  constructor({ page, store, viewer, captions, summary, template }) {
    this.page = page;
    this.store = store;
    this.viewer = viewer;
    this.captions = captions;
    this.summary = summary;
    this.template = template;
    this.before = null; // the compared revision's state
    this.label = "";
    store.subscribe(() => this.render());
  }

  async load(number, label) {
    if (number === null) {
      this.before = null;
      this.viewer.setComparison(null);
      this.captions.setComparison(null, "");
      this.render();
      return;
    }
    const { width, height } = this.page.detail.sample_info;
    const content = await get(`${this.page.urls.revisions}${number}/`);
    this.before = stateFromContent(content, width, height);
    this.label = label;
    this.viewer.setComparison({
      visible: true,
      regions: this.before.regions.map((r) => ({ mask: r.mask, bbox: r.bbox })),
    });
    this.captions.setComparison(this.before.captions, gettext("Changes since %(what)s", { what: label }));
    this.render();
  }

  render() {
    document.querySelectorAll(".field-diff").forEach((element) => element.remove());
    if (!this.before) {
      this.summary.replaceChildren();
      return;
    }
    const now = this.store.state;
    const changes = [];
    for (const spec of this.template) {
      const before = this.before.fields[spec.name] || [];
      const after = now.fields[spec.name] || [];
      const removed = before.filter((t) => !after.some((a) => a.id === t.id));
      const added = after.filter((t) => !before.some((b) => b.id === t.id));
      if (!removed.length && !added.length) continue;
      changes.push(spec.label);
      const row = document.querySelector(`.field-row[data-field="${spec.name}"]`);
      if (row) {
        row.append(
          h("div", { class: "field-diff small" },
            ...removed.map((t) => h("del", { title: gettext("removed") }, termLabel(t))),
            ...added.map((t) => h("ins", { title: gettext("added") }, termLabel(t))),
          ),
        );
      }
    }
    const { width, height } = this.page.detail.sample_info;
    const maskOf = (r) => r.mask || boxMask(r.bbox, width, height);
    const match = matchRegions(this.before.regions, now.regions, maskOf);
    const number = new Map(now.regions.map((r, i) => [r.uid, i + 1]));
    const regionLines = [
      ...match.pairs.map(({ before, after, iou }) => {
        const typeChanged = (before.defect_type && before.defect_type.id) !== (after.defect_type && after.defect_type.id);
        return h("li", { class: iou < 0.999 || typeChanged ? "changed" : "same", dataset: { iou: iou.toFixed(3) } },
          h("span", { class: "swatch", style: `background:${cssColor(classKey(after))}` }),
          ` #${number.get(after.uid)} `,
          gettext("IoU %(iou)s", { iou: iou.toFixed(2) }),
          typeChanged ? ` · ${termLabel(before.defect_type) || "?"} → ${termLabel(after.defect_type) || "?"}` : "",
        );
      }),
      ...match.added.map((r) => h("li", { class: "added" }, `#${number.get(r.uid)} `, gettext("new region"))),
      ...match.removed.map((r) => h("li", { class: "removed" }, termLabel(r.defect_type) || r.raw_label || "?", " ", gettext("removed"))),
    ];
    const captionChanges = ["en", "zh", "ja"].filter((l) => (this.before.captions[l] || "") !== (now.captions[l] || ""));
    const outlines = this.viewer.comparison;
    const parts = [
      h("p", { class: "small" },
        changes.length ? gettext("Fields changed: %(fields)s", { fields: changes.join(", ") }) : gettext("No field changed."),
        " ",
        captionChanges.length ? gettext("Captions changed: %(languages)s", { languages: captionChanges.join(", ").toUpperCase() }) : gettext("No caption changed."),
      ),
      regionLines.length ? h("ul", { class: "region-diff" }, ...regionLines) : h("p", { class: "muted small" }, gettext("No regions on either side.")),
      outlines
        ? h("label", { class: "inline small" },
            h("input", { type: "checkbox", id: "compare-outlines", checked: outlines.visible, onchange: () => this.viewer.toggleComparisonOutlines() }),
            gettext("Show its masks as yellow outlines (D)"),
          )
        : null,
    ];
    this.summary.replaceChildren(...parts.filter((part) => part !== null));
  }
}
