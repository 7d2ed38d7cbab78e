// The work page: one page for the three stages. The server renders the shell and embeds the
// annotation (#work-data); these modules draw the image and regions, the template, captions,
// QA pairs, comments, the comparison with another revision and the history, and talk to the
// REST API for every write.

import { get } from "./api.js";
import { Actions } from "./actions.js";
import { renderCaptions } from "./captions.js";
import { legendClasses } from "./classes.js";
import { Comments } from "./comments.js";
import { Comparison, comparisonChoices, defaultChoice } from "./compare.js";
import { renderFields } from "./fields.js";
import { renderHistory } from "./history.js";
import { bindPanels, bindSideColumn } from "./panels.js";
import { PredictionLayer } from "./predictions.js";
import { renderQA } from "./qa.js";
import { renderLegend, renderRegions, renderToolbar } from "./regions.js";
import { bindShortcuts } from "./shortcuts.js";
import { Store, stateFromContent } from "./store.js";
import { LANGUAGE_NAMES, h, gettext } from "./text.js";
import { Viewer } from "./viewer.js";

const page = JSON.parse(document.getElementById("work-data").textContent);
const detail = page.detail;
const sample = detail.sample_info;
const editable = page.mode !== "view";
const byId = (id) => document.getElementById(id);

const store = new Store(stateFromContent(detail.content, sample.width, sample.height));

const labels = {
  notes: gettext("Notes"),
  regions: gettext("Regions"),
  qa_pairs: gettext("Questions and answers"),
  state: gettext("the sample's state"),
};
for (const spec of page.template) labels[`fields.${spec.name}`] = spec.label;
for (const [code, name] of Object.entries(LANGUAGE_NAMES)) labels[`captions.${code}`] = gettext("caption (%(language)s)", { language: name });

// The class new regions get: the one chosen in the legend, else the template's first defect type.
let chosenClass = null;
const currentClass = {
  get: () => chosenClass || (store.state.fields.defect_types || [])[0] || null,
  set: (term) => {
    chosenClass = term;
  },
};

// Folded panels are remembered; on a short screen the captions start folded so the image gets the room.
bindPanels(document, { captions: window.innerHeight >= 900, history: false });
const toggleSide = bindSideColumn(byId("work-main"));

const viewer = new Viewer({
  canvas: byId("canvas"),
  wrap: byId("canvas-wrap"),
  hint: byId("canvas-hint"),
  readout: byId("pixel-readout"),
  minimap: byId("minimap"),
  zoomLabel: byId("zoom-label"),
  store,
  sample: { id: page.sample, width: sample.width, height: sample.height, files: sample.files, assetSize: page.asset_size },
  editable,
  segmentUrl: page.urls.segment,
  currentClass: currentClass.get,
});

const comments = new Comments({
  detail,
  mode: page.mode,
  panel: byId("comments"),
  dialog: byId("changes-dialog"),
  labels,
  regionNumber: (id) => {
    const index = store.state.regions.findIndex((r) => r.id === id);
    return index < 0 ? null : index + 1;
  },
  onChange: () => store.emit("comments"),
});
store.subscribe(() => comments.renderPanel());

const helpDialog = byId("help-dialog");
renderToolbar({ container: byId("toolbar"), viewer, store, editable, onHelp: () => helpDialog.showModal(), onToggleSide: toggleSide });
renderLegend({ container: byId("legend"), store, viewer, urls: page.urls, editable, currentClass });
renderFields({ container: byId("fields"), store, template: page.template, urls: page.urls, editable, comments });
const regions = renderRegions({ container: byId("regions"), store, viewer, urls: page.urls, editable, comments });
renderQA({ container: byId("qa"), store, viewer, editable, comments });
const captions = renderCaptions({
  container: byId("captions"),
  store,
  urls: page.urls,
  editable,
  required: page.required_languages,
  comments,
  statusElement: byId("validator-status"),
  summaryElement: byId("captions-summary"),
});

// -- stage 3's tally ----------------------------------------------------------------------------

function showTally(current) {
  const badge = byId("consensus-tally");
  const tally = current.consensus;
  const inConsensus = ["reviewed", "in_consensus"].includes(current.state);
  badge.hidden = !(inConsensus && tally);
  if (badge.hidden) return;
  const parts = [gettext("%(approvals)s of %(quorum)s approvals", { approvals: tally.approvals, quorum: tally.quorum })];
  if (tally.rejections) parts.push(gettext("%(count)s of %(quorum)s rejections", { count: tally.rejections, quorum: tally.quorum }));
  if (tally.stale) parts.push(gettext("%(count)s on an older revision", { count: tally.stale }));
  badge.textContent = parts.join(" · ");
  badge.title = gettext("Panel of %(panel)s experts; %(voters)s voted so far. Only votes on the current revision count.", { panel: tally.panel, voters: tally.voters });
  badge.dataset.approvals = String(tally.approvals);
}
showTally(detail);

const actions = new Actions({
  page,
  store,
  comments,
  labels,
  elements: {
    actions: byId("actions"),
    status: byId("save-status"),
    conflictDialog: byId("conflict-dialog"),
    changesDialog: byId("changes-dialog"),
    skipDialog: byId("skip-dialog"),
    nextForm: byId("next-form"),
  },
  onRebase: (uids) => viewer.carryRegionFlags(uids),
  onDetail: (current) => showTally(current),
});

// -- the model's proposals (pre-annotation), a layer of their own -----------------------------------

const predictions = new PredictionLayer({
  viewer,
  actions,
  store,
  container: byId("predictions"),
  panel: byId("predictions-panel"),
  urls: page.urls,
  decide: editable && ["annotation", "review"].includes(page.mode),
});
predictions.load();

// -- comparing with another revision, and the history --------------------------------------------

const comparison = new Comparison({ page, store, viewer, captions, summary: byId("compare-summary"), template: page.template });
const compareSelect = byId("compare-with");
let choices = [];

async function compareWith(value) {
  const choice = choices.find((c) => c.value === value);
  compareSelect.value = choice ? value : "";
  try {
    await comparison.load(choice ? choice.number : null, choice ? choice.label : "");
  } catch (error) {
    byId("compare-summary").replaceChildren(h("p", { class: "error small" }, gettext("Could not load it: %(reason)s", { reason: error.message })));
  }
}

async function setUpComparison() {
  const revisions = await get(page.urls.revisions);
  choices = comparisonChoices({ detail: page.detail, revisions, mode: page.mode, stageLabels: page.stage_labels });
  compareSelect.replaceChildren(h("option", { value: "" }, gettext("nothing")), ...choices.map((c) => h("option", { value: c.value }, c.label)));
  compareSelect.addEventListener("change", () => compareWith(compareSelect.value));
  const initial = defaultChoice(choices, page.mode, page.detail);
  if (initial) await compareWith(initial);
}
setUpComparison();

const historyPanel = document.querySelector('[data-panel="history"]');
let historyShown = false;
function showHistory() {
  historyShown = true;
  renderHistory({
    container: byId("history"),
    urls: page.urls,
    labels,
    stateLabels: page.state_labels,
    stageLabels: page.stage_labels,
    onCompare: (number) => {
      const choice = choices.find((c) => c.number === number);
      if (choice) compareWith(choice.value);
    },
  });
}
historyPanel.addEventListener("panel-toggle", (event) => event.detail.open && showHistory());
if (!byId("history").hidden) showHistory();
store.subscribe((state, kind) => {
  if (kind === "rebase" && historyShown) showHistory(); // a save is a new revision and new moments
});

// -- going elsewhere: jump to a sample -----------------------------------------------------------

const jumpInput = byId("jump-input");
byId("jump-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const id = jumpInput.value.trim().replace(/^#/, "");
  if (!/^\d+$/.test(id)) {
    jumpInput.setCustomValidity(gettext("A sample number, e.g. 1234"));
    jumpInput.reportValidity();
    return;
  }
  if (store.dirty && !window.confirm(gettext("Leave this sample with unsaved changes?"))) return;
  actions.leaving = true;
  window.location.assign(page.urls.work.replace(/\/0\/$/, `/${id}/`));
});
jumpInput.addEventListener("input", () => jumpInput.setCustomValidity(""));

bindShortcuts({
  viewer,
  store,
  actions,
  regions,
  legendKeys: () => legendClasses(store.state.regions),
  helpDialog,
  mode: page.mode,
  commands: {
    skip: () => actions.run("skip"),
    toggleSide,
    jump: () => jumpInput.focus(),
  },
});

viewer.setTool("select");
window.imddWork = { store, viewer, actions, comparison, predictions }; // for the browser tests and the console
