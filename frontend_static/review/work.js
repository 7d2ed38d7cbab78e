// The work page: one page for the three stages. The server renders the shell and embeds the
// annotation (#work-data); these modules draw the image and regions, the template, captions,
// QA pairs and comments, and talk to the REST API for every write.

import { get } from "./api.js";
import { Actions } from "./actions.js";
import { renderCaptions } from "./captions.js";
import { legendClasses } from "./classes.js";
import { Comments } from "./comments.js";
import { renderFields } from "./fields.js";
import { renderQA } from "./qa.js";
import { renderLegend, renderRegions, renderToolbar } from "./regions.js";
import { bindShortcuts } from "./shortcuts.js";
import { Store, stateFromContent } from "./store.js";
import { LANGUAGE_NAMES, gettext } from "./text.js";
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

const viewer = new Viewer({
  canvas: byId("canvas"),
  wrap: byId("canvas-wrap"),
  hint: byId("canvas-hint"),
  store,
  sample: { id: page.sample, width: sample.width, height: sample.height, files: sample.files, assetSize: page.asset_size },
  editable,
  segmentUrl: page.urls.segment,
  currentClass: currentClass.get,
});

let actions = null;
const comments = new Comments({
  detail,
  mode: page.mode,
  panel: byId("comments"),
  dialog: byId("changes-dialog"),
  labels,
  onChange: () => store.emit("comments"),
});

const helpDialog = byId("help-dialog");
renderToolbar({ container: byId("toolbar"), viewer, store, editable, onHelp: () => helpDialog.showModal() });
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
});

actions = new Actions({
  page,
  store,
  comments,
  labels,
  elements: {
    actions: byId("actions"),
    status: byId("save-status"),
    conflictDialog: byId("conflict-dialog"),
    changesDialog: byId("changes-dialog"),
    nextForm: byId("next-form"),
  },
});

bindShortcuts({
  viewer,
  store,
  actions,
  regions,
  legendKeys: () => legendClasses(store.state.regions),
  helpDialog,
  nextForm: byId("next-form"),
  mode: page.mode,
});

// "Compare with": the current LLM (or template) draft, or the previous stage's result.
async function comparison(kind) {
  if (kind === "draft") {
    const drafts = await get(`${page.urls.drafts}?sample=${page.sample}`);
    const draft = (drafts.results || drafts)[0];
    return draft ? { texts: draft.captions, label: gettext("Changes since the draft by %(generator)s", { generator: draft.generator }) } : null;
  }
  const revisions = page.detail.revisions;
  const previousId = { annotation: revisions.submitted, review: revisions.submitted, consensus: revisions.reviewed }[page.mode] ?? revisions.reviewed ?? revisions.submitted;
  const list = await get(page.urls.revisions);
  const previous = list.find((r) => r.id === previousId) || list.find((r) => r.stage === "draft");
  if (!previous) return null;
  const content = await get(`${page.urls.revisions}${previous.number}/`);
  const texts = Object.fromEntries(Object.entries(content.captions).map(([language, caption]) => [language, caption.text]));
  return { texts, label: gettext("Changes since revision %(number)s (%(stage)s)", { number: previous.number, stage: previous.stage }) };
}

byId("compare-with").addEventListener("change", async (event) => {
  const kind = event.target.value;
  if (!kind) return captions.setComparison(null, "");
  try {
    const found = await comparison(kind);
    captions.setComparison(found ? found.texts : {}, found ? found.label : gettext("Nothing to compare with."));
  } catch (error) {
    captions.setComparison({}, gettext("Could not load it: %(reason)s", { reason: error.message }));
  }
});

viewer.setTool("select");
window.imddWork = { store, viewer, actions }; // for the browser tests and the console
