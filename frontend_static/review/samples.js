// The sample table's selection and bulk actions. Each action is one call to the REST API
// (enqueue, assign, priority and gold; a dataset version from the filters); the page then
// reloads so every row shows what the server now holds.

import { ApiError, post } from "./api.js";
import { errorSentence } from "./errors.js";
import { gettext } from "./text.js";

const data = JSON.parse(document.getElementById("browser-data").textContent);
const byId = (id) => document.getElementById(id);
const boxes = () => [...document.querySelectorAll("input.select-row")];
const selected = () => boxes().filter((box) => box.checked).map((box) => Number(box.value));

function refresh() {
  const ids = selected();
  byId("bulk-actions").hidden = !ids.length;
  byId("bulk-count").textContent = ids.length
    ? gettext("%(count)s selected", { count: ids.length })
    : gettext("Select samples with the boxes to act on them.");
  const all = boxes();
  const pageBox = byId("select-page");
  pageBox.checked = all.length > 0 && ids.length === all.length;
  pageBox.indeterminate = ids.length > 0 && ids.length < all.length;
  for (const box of all) box.closest("tr").classList.toggle("selected", box.checked);
}

function report(text, kind) {
  const element = byId("bulk-result");
  element.textContent = text;
  element.className = `bulk-result ${kind}`;
}

function failure(error) {
  if (!(error instanceof ApiError)) return gettext("Network error: %(reason)s", { reason: error.message });
  const fields = Object.entries(error.data.errors || {}).map(([name, messages]) => `${name}: ${[].concat(messages).join("; ")}`);
  return [errorSentence(error), ...fields].join(" ");
}

const OUTCOMES = {
  assigned: () => gettext("assigned"),
  unchanged: () => gettext("unchanged"),
  not_found: () => gettext("not found"),
  not_visible_to_annotator: () => gettext("not visible to that annotator"),
};

async function run(kind) {
  const ids = selected();
  if (!ids.length) return;
  const priority = Number(byId("bulk-priority").value);
  const calls = {
    enqueue: () => post(data.urls.enqueue, { sample_ids: ids }),
    assign: () => post(data.urls.assign, { sample_ids: ids, annotator: byId("bulk-annotator").value ? Number(byId("bulk-annotator").value) : null }),
    gold: () => post(data.urls.priority, { sample_ids: ids, is_gold: true }),
    ungold: () => post(data.urls.priority, { sample_ids: ids, is_gold: false }),
    priority: () => post(data.urls.priority, { sample_ids: ids, priority }),
  };
  report(gettext("Working…"), "busy");
  try {
    const result = await calls[kind]();
    let text;
    if (kind === "enqueue") text = gettext("%(count)s enqueued (the others already were).", { count: result.created });
    else if (kind === "assign") {
      const counts = {};
      for (const row of result.results) counts[row.outcome] = (counts[row.outcome] || 0) + 1;
      text = Object.entries(counts)
        .map(([outcome, count]) => `${count} ${(OUTCOMES[outcome] || (() => outcome.replace(/^skipped_/, gettext("skipped: "))))()}`)
        .join(", ");
    } else text = gettext("%(count)s changed.", { count: result.changed });
    report(text, "ok");
    sessionStorage.setItem("imdd-bulk-result", text);
    window.location.reload();
  } catch (error) {
    report(failure(error), "error");
  }
}

async function versionFromFilters() {
  const selection = {};
  if (data.filters.source) selection.sources = [data.filters.source];
  if (data.filters.domain) selection.domains = [data.filters.domain];
  if (data.filters.defect_type) selection.defect_types = [data.filters.defect_type];
  const title = window.prompt(gettext("Title of the new dataset version (verified samples of these filters):"));
  if (!title) return;
  report(gettext("Working…"), "busy");
  try {
    const version = await post(data.urls.versions, { title, selection, split_plan: {} });
    report(gettext("Version %(number)s created: %(count)s samples.", { number: version.number, count: version.sample_count ?? "?" }), "ok");
  } catch (error) {
    report(failure(error), "error");
  }
}

byId("select-page").addEventListener("change", (event) => {
  for (const box of boxes()) box.checked = event.target.checked;
  refresh();
});
for (const box of boxes()) box.addEventListener("change", refresh);
for (const button of document.querySelectorAll("[data-bulk]")) button.addEventListener("click", () => run(button.dataset.bulk));
byId("version-from-filters").addEventListener("click", versionFromFilters);
const previous = sessionStorage.getItem("imdd-bulk-result");
if (previous) {
  report(previous, "ok");
  sessionStorage.removeItem("imdd-bulk-result");
}
refresh();
