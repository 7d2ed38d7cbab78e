// The sample's history on its work page: every revision (with a button to compare with it) and
// the audit trail as a timeline of moments: who, when, what happened, what changed.

import { get } from "./api.js";
import { errorSentence } from "./errors.js";
import { h, termLabel, gettext } from "./text.js";

function actionLabel(action) {
  return (
    {
      create: gettext("enqueued"),
      claim: gettext("claimed"),
      release: gettext("released"),
      skip: gettext("skipped"),
      lease_expired: gettext("lease expired"),
      save: gettext("saved"),
      edit: gettext("edited"),
      submit: gettext("submitted"),
      approve: gettext("approved"),
      request_changes: gettext("requested changes"),
      vote: gettext("voted"),
      verify: gettext("verified"),
      reject: gettext("rejected"),
      route: gettext("routed"),
      assign: gettext("assigned"),
      draft_captions: gettext("draft captions attached"),
    }[action] || action
  );
}

function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(document.documentElement.lang, { dateStyle: "short", timeStyle: "short" });
}

function changeLine(change, labels) {
  const name = labels[change.field] || change.field;
  if (change.field.startsWith("fields.")) {
    const before = change.before.map((t) => termLabel({ label: t })).join(", ") || "—";
    const after = change.after.map((t) => termLabel({ label: t })).join(", ") || "—";
    return `${name}: ${before} → ${after}`;
  }
  if (change.field === "regions") return gettext("Regions: %(before)s → %(after)s", { before: change.before, after: change.after });
  if (change.field === "qa_pairs") return gettext("Questions and answers: %(before)s → %(after)s", { before: change.before, after: change.after });
  return gettext("%(name)s changed", { name });
}

export async function renderHistory({ container, urls, labels, stateLabels, stageLabels, onCompare }) {
  container.replaceChildren(h("p", { class: "muted small" }, gettext("Loading…")));
  try {
    const [revisions, moments] = await Promise.all([get(urls.revisions), get(urls.timeline)]);
    const revisionList = h(
      "ol",
      { class: "revision-list", reversed: true },
      ...[...revisions].reverse().map((revision) =>
        h(
          "li",
          { dataset: { number: revision.number } },
          h("strong", {}, gettext("Revision %(number)s", { number: revision.number })),
          " · ",
          stageLabels[revision.stage] || revision.stage,
          h("span", { class: "muted small" }, ` · ${formatTime(revision.created_at)}`),
          " ",
          h("button", { type: "button", class: "link small", onclick: () => onCompare(revision.number) }, gettext("compare")),
        ),
      ),
    );
    const timeline = h(
      "ol",
      { class: "timeline" },
      ...moments.map((moment) => {
        const who = moment.actor_name || (moment.actor === null && moment.state && moment.action === "lease_expired" ? gettext("the system") : gettext("someone"));
        const lines = moment.changes.map((change) => h("li", {}, changeLine(change, labels)));
        if (moment.details.reason) lines.push(h("li", {}, gettext("Reason: %(reason)s", { reason: moment.details.reason })));
        if (moment.details.vote) lines.push(h("li", {}, gettext("Vote: %(decision)s", { decision: moment.details.vote.decision }), moment.details.vote.comment ? ` — ${moment.details.vote.comment}` : ""));
        if (moment.details.review_comments) lines.push(h("li", {}, gettext("%(count)s comments", { count: moment.details.review_comments.length })));
        return h(
          "li",
          { class: `moment action-${moment.action}` },
          h("div", {}, h("strong", {}, who), " ", actionLabel(moment.action),
            moment.state ? h("span", { class: "muted small" }, ` (${stateLabels[moment.state.before] || moment.state.before || "—"} → ${stateLabels[moment.state.after] || moment.state.after})`) : null),
          h("div", { class: "muted small" }, formatTime(moment.at), " · ", gettext("version %(v)s", { v: moment.version })),
          lines.length ? h("ul", { class: "moment-changes small" }, ...lines) : null,
        );
      }),
    );
    container.replaceChildren(h("h3", {}, gettext("Revisions")), revisionList, h("h3", {}, gettext("Timeline")), timeline);
  } catch (error) {
    container.replaceChildren(h("p", { class: "error small" }, gettext("Could not load the history: %(reason)s", { reason: error.status ? errorSentence(error) : error.message })));
  }
}
