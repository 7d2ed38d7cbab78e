// Click-assisted segmentation: positive and negative clicks on the image, each sent with the last
// proposal to POST /api/annotation/segment/, which answers a mask on the 512x512 letterboxed
// asset; the page maps it back to original pixels. Enter accepts the proposal as a region.

import { post } from "./api.js";
import { errorSentence } from "./errors.js";
import { decodeRle, maskGeometry } from "./rle.js";
import { paintMask } from "./mask-painting.js";
import { gettext } from "./text.js";

const PROPOSAL_COLOR = [0, 229, 255];

export class ClickSegmentation {
  constructor({ sample, url, hint, changed, accept }) {
    this.sample = sample; // {id, width, height, assetSize}
    this.url = url;
    this.hint = hint; // (text) -> shows a line under the image
    this.changed = changed; // () -> redraw and refresh the toolbar
    this.acceptMask = accept; // (mask) -> adds the region
    this.reset();
  }

  reset() {
    this.session = { clicks: [], proposal: null, busy: false, again: false, overlay: null };
  }

  get clicks() {
    return this.session.clicks;
  }

  get busy() {
    return this.session.busy;
  }

  addClick(point, positive) {
    const { width, height } = this.sample;
    const x = Math.floor(point.x);
    const y = Math.floor(point.y);
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    if (!this.session.clicks.length && !positive) {
      this.hint(gettext("The first click marks the defect: click on it."));
      return;
    }
    this.session.clicks.push({ x, y, positive });
    this.request();
  }

  /** Where the original's pixels land in the letterboxed square asset the segmentation reads
   * (the same arithmetic as the importer's letterbox_geometry). */
  assetGeometry() {
    const { width, height, assetSize } = this.sample;
    const scale = assetSize / Math.max(width, height);
    const w = Math.max(1, Math.round(width * scale));
    const h = Math.max(1, Math.round(height * scale));
    return { size: assetSize, w, h, left: Math.floor((assetSize - w) / 2), top: Math.floor((assetSize - h) / 2) };
  }

  toAsset({ x, y, positive }) {
    const { width, height } = this.sample;
    const g = this.assetGeometry();
    return {
      x: Math.min(g.left + g.w - 1, g.left + Math.floor(((x + 0.5) * g.w) / width)),
      y: Math.min(g.top + g.h - 1, g.top + Math.floor(((y + 0.5) * g.h) / height)),
      positive,
    };
  }

  /** The asset-sized proposal as a mask of the original's size (nearest pixel). */
  maskFromAsset(assetMask) {
    const { width, height } = this.sample;
    const g = this.assetGeometry();
    const columns = new Int32Array(width);
    for (let x = 0; x < width; x += 1) columns[x] = g.left + Math.min(g.w - 1, Math.floor(((x + 0.5) * g.w) / width));
    const mask = new Uint8Array(width * height);
    for (let y = 0; y < height; y += 1) {
      const row = (g.top + Math.min(g.h - 1, Math.floor(((y + 0.5) * g.h) / height))) * g.size;
      for (let x = 0; x < width; x += 1) mask[y * width + x] = assetMask[row + columns[x]];
    }
    return mask;
  }

  async request() {
    const session = this.session;
    if (session.busy) {
      session.again = true;
      return;
    }
    session.busy = true;
    this.hint(gettext("Segmenting…"));
    this.changed();
    const body = { sample: this.sample.id, clicks: session.clicks.map((click) => this.toAsset(click)) };
    if (session.proposal) body.previous_mask = session.proposal.rle;
    try {
      const data = await post(this.url, body);
      if (this.session !== session) return; // cancelled meanwhile
      const [h, w] = data.mask.size;
      if (w !== this.sample.assetSize || h !== this.sample.assetSize) throw new Error(gettext("The proposal does not fit the image."));
      const mask = this.maskFromAsset(decodeRle(data.mask));
      const { area } = maskGeometry(mask, this.sample.width, this.sample.height);
      session.proposal = { rle: data.mask, mask, area };
      session.overlay = null;
      this.hint(
        area
          ? gettext("Proposal: %(area)s px in %(ms)s ms. Click to refine, Enter to accept, Esc to cancel.", {
              area,
              ms: Math.round(data.elapsed_ms),
            })
          : gettext("No region found at these points: add a click on the defect."),
      );
    } catch (error) {
      if (this.session === session) {
        session.clicks.pop();
        const reason = error.status ? errorSentence(error) : error.message;
        this.hint(gettext("Segmentation failed: %(reason)s", { reason }));
      }
    } finally {
      session.busy = false;
      this.changed();
      if (session.again && this.session === session) {
        session.again = false;
        this.request();
      }
    }
  }

  /** Enter: the proposal becomes a region. Returns whether there was one to accept. */
  accept() {
    const proposal = this.session.proposal;
    if (!proposal || !proposal.area || this.session.busy) return false;
    this.reset();
    this.acceptMask(proposal.mask);
    this.hint(gettext("Region added."));
    this.changed();
    return true;
  }

  cancel() {
    this.reset();
    this.changed();
  }

  draw(context, scale) {
    const session = this.session;
    if (session.proposal && session.proposal.area) {
      if (!session.overlay) session.overlay = paintMask(session.proposal.mask, this.sample, PROPOSAL_COLOR);
      context.globalAlpha = 0.55;
      context.drawImage(session.overlay, 0, 0);
      context.globalAlpha = 1;
    }
    for (const click of session.clicks) {
      context.beginPath();
      context.arc(click.x + 0.5, click.y + 0.5, 5 / scale, 0, Math.PI * 2);
      context.fillStyle = click.positive ? "#22c55e" : "#ef4444";
      context.fill();
      context.lineWidth = 1.5 / scale;
      context.strokeStyle = "#fff";
      context.stroke();
    }
  }
}
