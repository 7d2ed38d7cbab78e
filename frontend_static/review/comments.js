// Comments pinned to a template field, a caption or a region. Reviewers write them when they
// request changes (the comment buttons pin a new one); everyone sees the earlier rounds' comments next
// to what they point at, and all of them in the Comments panel.

import { h, icon, gettext } from "./text.js";

export class Comments {
  constructor({ detail, mode, panel, dialog, onChange, labels, regionNumber }) {
    this.labels = labels; // {"fields.product": "Product", "captions.en": "English", ...}
    this.regionNumber = regionNumber; // (region id) -> its #n in the region list, or null
    this.history = detail.review_comments || [];
    this.votes = detail.votes || [];
    this.round = detail.review_round || 0;
    this.canWrite = mode === "review";
    this.pending = []; // [{field, region, label, text}]
    this.panel = panel;
    this.dialog = dialog;
    this.onChange = onChange;
    this.pinnedContainers = [];
    this.renderPanel();
  }

  /** A comment button that pins a new comment (reviewers only); null for everyone else. */
  pinButton(field, label, region = null) {
    if (!this.canWrite) return null;
    return h(
      "button",
      {
        type: "button",
        class: "icon pin",
        title: gettext("Comment on %(target)s", { target: label }),
        dataset: { pin: field || `region:${region}` },
        onclick: (event) => {
          event.stopPropagation();
          this.add({ field: field || "", region, label });
        },
      },
      icon("comment"),
    );
  }

  add({ field = "", region = null, label = "" }) {
    this.pending.push({ field, region, label: label || gettext("the whole sample"), text: "" });
    this.open(this.pending.length - 1);
  }

  /** The comments of the latest round (and my pending ones) that point at this field or region. */
  showPinned(container, { field = null, region = null }) {
    const matches = (c) => (field !== null ? c.field === field : c.region === region);
    const latest = this.history.filter((c) => c.round === this.round && matches(c));
    const mine = this.pending.filter(matches);
    container.replaceChildren(
      ...latest.map((c) => h("p", { class: "pinned-comment" }, icon("comment"), " ", c.text)),
      ...mine.filter((c) => c.text).map((c) => h("p", { class: "pinned-comment pending" }, "✎ ", c.text)),
    );
  }

  renderPanel() {
    const rounds = new Map();
    for (const comment of this.history) {
      if (!rounds.has(comment.round)) rounds.set(comment.round, []);
      rounds.get(comment.round).push(comment);
    }
    const blocks = [];
    for (const [round, comments] of [...rounds.entries()].sort((a, b) => b[0] - a[0])) {
      blocks.push(
        h("h3", {}, gettext("Review round %(round)s", { round })),
        h(
          "ul",
          { class: "comment-list" },
          ...comments.map((c) =>
            h("li", {}, h("span", { class: "comment-target" }, targetLabel(c, this.labels, this.regionNumber)), " ", c.text),
          ),
        ),
      );
    }
    if (this.votes.length) {
      blocks.push(
        h("h3", {}, gettext("Consensus votes")),
        h(
          "ul",
          { class: "comment-list" },
          ...this.votes.map((v) =>
            h("li", {}, h("span", { class: `badge vote-${v.decision}` }, voteLabel(v.decision)), " ", v.comment || ""),
          ),
        ),
      );
    }
    if (this.pending.length) {
      blocks.push(
        h("h3", {}, gettext("Your comments (not sent yet)")),
        h(
          "ul",
          { class: "comment-list" },
          ...this.pending.map((c, i) =>
            h("li", {}, h("span", { class: "comment-target" }, c.label), " ", c.text || h("em", { class: "muted" }, gettext("(empty)")), " ",
              h("button", { type: "button", class: "link small", onclick: () => this.open(i) }, gettext("edit"))),
          ),
        ),
      );
    }
    if (!blocks.length) blocks.push(h("p", { class: "muted small" }, gettext("No comments.")));
    this.panel.replaceChildren(...blocks);
  }

  /** The request-changes dialog, focused on pending comment `index` (or the first). */
  open(index = 0) {
    if (!this.pending.length) this.pending.push({ field: "", region: null, label: gettext("the whole sample"), text: "" });
    const list = this.dialog.querySelector("#changes-comments");
    list.replaceChildren(
      ...this.pending.map((comment, i) =>
        h(
          "div",
          { class: "pending-comment" },
          h("label", {}, h("span", { class: "comment-target" }, comment.label),
            h("textarea", {
              rows: "2",
              dataset: { index: i },
              oninput: (event) => {
                comment.text = event.target.value;
                this.changed();
              },
            }, comment.text)),
          h("button", { type: "button", class: "link small", onclick: () => { this.pending.splice(i, 1); this.changed(); this.open(); } }, gettext("remove")),
        ),
      ),
    );
    if (!this.dialog.open) this.dialog.showModal();
    const target = list.querySelector(`textarea[data-index="${Math.min(index, this.pending.length - 1)}"]`);
    if (target) target.focus();
  }

  changed() {
    this.renderPanel();
    this.onChange();
  }

  /** What the request-changes call sends: [{text, field?, region?}]. */
  payload() {
    return this.pending
      .filter((c) => c.text.trim())
      .map((c) => {
        const item = { text: c.text.trim() };
        if (c.field) item.field = c.field;
        if (c.region !== null) item.region = c.region;
        return item;
      });
  }
}

function targetLabel(comment, labels, regionNumber) {
  if (comment.region) {
    // Numbered as the region list numbers them; a region edited since is a new region.
    const number = regionNumber(comment.region);
    return number ? gettext("region #%(n)s", { n: number }) : gettext("a region changed since");
  }
  if (!comment.field) return gettext("general");
  return labels[comment.field] || comment.field;
}

function voteLabel(decision) {
  return { approve: gettext("approve"), reject: gettext("reject"), edit: gettext("edit") }[decision] || decision;
}
