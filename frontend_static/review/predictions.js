// The model's pre-annotation of the sample, as a layer of its own: dashed magenta outlines with the
// defect type and score on the image, and a panel to accept or discard each proposal. Nothing here
// edits the store: the server copies an accepted region into the annotation through the ordinary
// save (new revision, audit) and answers with the annotation, which the page loads like any save's.

import { get, post } from "./api.js";
import { paintOutline } from "./mask-painting.js";
import { decodeRle } from "./rle.js";
import { gettext, h, termLabel } from "./text.js";

const COLOR = [255, 64, 200];
const CSS_COLOR = "rgb(255, 64, 200)";

export class PredictionLayer {
  /** urls: {prediction, accept, discard}; decide: the holder may accept or discard (stages 1 and 2). */
  constructor({ viewer, actions, store, container, panel, urls, decide }) {
    Object.assign(this, { viewer, actions, store, container, panel, urls, decide });
    this.prediction = null;
    this.pending = []; // [{id, defect_type, score, bbox, mask, picture, thickness}]
    this.visible = true;
    viewer.overlays.push(this);
  }

  async load() {
    try {
      this.prediction = await get(this.urls.prediction);
    } catch (error) {
      this.container.replaceChildren(h("p", { class: "error small" }, gettext("Could not load the model's proposals: %(reason)s", { reason: error.message })));
      this.panel.hidden = false;
      return;
    }
    const { width, height } = this.viewer.sample;
    this.pending = (this.prediction ? this.prediction.regions : [])
      .filter((region) => !region.decision)
      .map((region) => ({ ...region, mask: decodeRle(region.mask_rle), picture: null, thickness: 0, width, height }));
    this.render();
    this.viewer.requestDraw();
  }

  /** Called by the viewer after it drew the regions, in image coordinates (s: screen px per image px). */
  draw(context, s) {
    if (!this.visible) return;
    const thickness = this.viewer.painter.outlineThickness();
    context.font = `${12 / s}px sans-serif`;
    for (const region of this.pending) {
      if (!region.picture || region.thickness !== thickness) {
        region.picture = paintOutline(region.mask, this.viewer.sample, COLOR, thickness);
        region.thickness = thickness;
      }
      context.drawImage(region.picture, 0, 0);
      const [x, y, w, hgt] = region.bbox;
      context.strokeStyle = CSS_COLOR;
      context.lineWidth = 1.5 / s;
      context.setLineDash([6 / s, 4 / s]);
      context.strokeRect(x, y, w, hgt);
      context.setLineDash([]);
      context.fillStyle = CSS_COLOR;
      context.fillText(`${termLabel(region.defect_type)} ${region.score.toFixed(2)}`, x, Math.max(12 / s, y - 3 / s));
    }
  }

  render() {
    this.panel.hidden = !this.prediction;
    if (!this.prediction) return;
    const head = h(
      "p",
      { class: "muted small" },
      gettext("%(model)s · uncertainty %(uncertainty)s", { model: this.prediction.model_version, uncertainty: this.prediction.uncertainty.toFixed(2) }),
    );
    const toggle = h("label", { class: "small" }, h("input", { type: "checkbox", checked: this.visible, onchange: (event) => this.show(event.target.checked) }), " ", gettext("Show on the image"));
    const rows = this.pending.map((region) =>
      h(
        "li",
        { class: "prediction", "data-prediction": String(region.id) },
        h("span", { style: `color: ${CSS_COLOR}` }, "▭ "),
        `${termLabel(region.defect_type) || gettext("unknown type")} · ${region.score.toFixed(2)} `,
        this.decide ? h("button", { type: "button", class: "small", onclick: () => this.choose(region, "accept") }, gettext("Accept")) : "",
        this.decide ? h("button", { type: "button", class: "small", onclick: () => this.choose(region, "discard") }, gettext("Discard")) : "",
      ),
    );
    const empty = h("p", { class: "muted small" }, gettext("No proposals left."));
    this.container.replaceChildren(head, toggle, rows.length ? h("ul", { class: "predictions" }, ...rows) : empty);
  }

  show(visible) {
    this.visible = visible;
    this.viewer.requestDraw();
  }

  async choose(region, verb) {
    // The server applies an accept to the version it holds: unsaved edits here would be lost on reload.
    if (verb === "accept" && this.store.dirty) {
      this.actions.status(gettext("Save your changes before accepting a proposal."), "error");
      return;
    }
    try {
      const detail = await post(this.urls[verb], { version: this.actions.version, region: region.id });
      this.actions.loaded(detail);
      this.actions.status(verb === "accept" ? gettext("Proposal accepted.") : gettext("Proposal discarded."), "ok");
      await this.load();
    } catch (error) {
      this.actions.failed(error);
    }
  }
}
