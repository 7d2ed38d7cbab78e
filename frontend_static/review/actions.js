// The stage's actions (save; submit; approve, edit and approve, request changes; consensus vote;
// claim, release) and what happens after them: the next sample, a validation error shown where it
// belongs, or the stale-write dialog when someone saved the sample first (409).

import { ApiError, post } from "./api.js";
import { errorSentence } from "./errors.js";
import { carryRegionExtras, changedParts, contentPayload, reapply, stateFromContent } from "./store.js";
import { h, gettext } from "./text.js";

const LEASE_RENEW_MS = 5 * 60 * 1000;

export class Actions {
  constructor({ page, store, comments, elements, labels, onRebase = () => {}, onDetail = () => {} }) {
    this.onRebase = onRebase; // (uids before -> after) when a save gives the regions new uids
    this.onDetail = onDetail; // (detail) after every answer of the server
    this.page = page;
    this.detail = page.detail;
    this.mode = page.mode;
    this.store = store;
    this.comments = comments;
    this.elements = elements; // {actions, status, stateBadge, conflictDialog, changesDialog, nextForm}
    this.labels = labels;
    this.busy = false;
    this.base = store.state; // the state the server's version holds
    this.render();
    store.subscribe(() => this.refresh());
    this.bindDialogs();
    if (elements.skipDialog) this.bindSkip();
    if (this.mode !== "view") setInterval(() => this.renewLease(), LEASE_RENEW_MS);
    window.addEventListener("beforeunload", (event) => {
      if (this.store.dirty && !this.leaving) event.preventDefault();
    });
  }

  get version() {
    return this.detail.version;
  }

  url(verb) {
    return `${this.page.urls.annotation}${verb}/`;
  }

  // -- buttons ----------------------------------------------------------------------------------

  render() {
    const button = (action, label, shortcut, style = "") =>
      h(
        "button",
        { type: "button", class: style, dataset: { action }, title: shortcut ? `${label} (${shortcut})` : label, onclick: () => this.run(action) },
        label,
        shortcut ? h("kbd", {}, shortcut) : null,
      );
    const items = [];
    if (this.mode === "annotation") {
      items.push(
        button("save", gettext("Save"), "Ctrl+S"),
        button("release", gettext("Release")),
        button("skip", gettext("Skip"), "N"),
        button("submit", gettext("Submit"), "Ctrl+Enter", "primary"),
      );
    } else if (this.mode === "review") {
      items.push(
        button("save", gettext("Save"), "Ctrl+S"),
        button("release", gettext("Release")),
        button("skip", gettext("Skip"), "N"),
        button("request-changes", gettext("Request changes"), "Ctrl+Shift+Enter", "danger"),
        button("approve", gettext("Approve"), "Ctrl+Enter", "primary"),
      );
    } else if (this.mode === "consensus") {
      this.voteComment = h("input", { type: "text", class: "vote-comment", placeholder: gettext("Comment (optional)") });
      items.push(
        this.voteComment,
        button("release", gettext("Release")),
        button("skip", gettext("Skip"), "N"),
        button("reject", gettext("Reject"), "Ctrl+Shift+Enter", "danger"),
        button("approve", gettext("Approve"), "Ctrl+Enter", "primary"),
      );
    } else if (this.page.claimable) {
      items.push(button("claim", gettext("Claim this sample"), null, "primary"));
    } else {
      items.push(h("span", { class: "muted small" }, gettext("Read only: you do not hold this sample.")));
    }
    this.elements.actions.replaceChildren(...items);
    this.refresh();
  }

  refresh() {
    const dirty = this.store.dirty;
    const approve = this.elements.actions.querySelector('[data-action="approve"]');
    if (approve) approve.firstChild.textContent = dirty ? gettext("Edit and approve") : gettext("Approve");
    const save = this.elements.actions.querySelector('[data-action="save"]');
    if (save) save.disabled = !dirty || this.busy;
    for (const element of this.elements.actions.querySelectorAll("button")) if (element !== save) element.disabled = this.busy;
    if (!this.busy) this.status(dirty ? gettext("Unsaved changes") : "", dirty ? "dirty" : "");
  }

  status(text, kind = "") {
    this.elements.status.replaceChildren(text);
    this.elements.status.className = `work-status ${kind}`;
  }

  // -- running an action --------------------------------------------------------------------------

  async run(action) {
    if (this.busy) return;
    if (action === "request-changes") return this.comments.open();
    if (action === "skip") return this.openSkip();
    const dirty = this.store.dirty;
    const content = dirty ? contentPayload(this.store.state) : undefined;
    const calls = {
      save: () => (dirty ? post(this.url("save"), { version: this.version, content }) : null),
      submit: () => post(this.url("submit"), { version: this.version, content }),
      approve: () =>
        this.mode === "consensus"
          ? post(this.url("vote"), { version: this.version, decision: dirty ? "edit" : "approve", content, comment: this.voteComment.value })
          : post(this.url("approve"), { version: this.version, content }),
      reject: () => post(this.url("vote"), { version: this.version, decision: "reject", comment: this.voteComment.value }),
      release: () => post(this.url("release"), { version: this.version }),
      claim: () => post(this.url("claim"), { version: this.version }),
    };
    if (!calls[action]) return;
    if (action === "reject" && dirty && !window.confirm(gettext("Rejecting drops your edits. Reject anyway?"))) return;
    if (action === "release" && dirty && !window.confirm(gettext("Releasing drops your unsaved edits. Release anyway?"))) return;
    await this.call(action, calls[action]);
  }

  async sendChanges() {
    const comments = this.comments.payload();
    if (!comments.length) {
      this.status(gettext("Write at least one comment."), "error");
      return;
    }
    this.elements.changesDialog.close();
    await this.call("request-changes", async () => {
      if (this.store.dirty) {
        // The reviewer's own edits are kept as a stage-2 revision before the sample goes back.
        const saved = await post(this.url("save"), { version: this.version, content: contentPayload(this.store.state) });
        this.loaded(saved);
      }
      return post(this.url("request-changes"), { version: this.version, comments });
    });
  }

  async call(action, request) {
    this.busy = true;
    this.refresh();
    this.status(gettext("Working…"), "busy");
    try {
      const detail = await request();
      this.busy = false;
      if (detail) this.loaded(detail, { keepHistory: action === "save" });
      this.done(action);
    } catch (error) {
      this.busy = false;
      this.refresh();
      this.failed(error);
    }
  }

  /** The server's answer. After a save the undo history stays (keepHistory), so Ctrl+Z still
   * takes back the last edit; anything else (a conflict, another stage) starts afresh. */
  loaded(detail, { keepHistory = false } = {}) {
    this.detail = detail;
    this.page.detail = detail;
    const sample = detail.sample_info;
    const state = stateFromContent(detail.content, sample.width, sample.height);
    if (keepHistory) {
      const carried = carryRegionExtras(this.store.state, state);
      this.base = carried.state;
      this.store.rebase(carried.state);
      this.onRebase(carried.uids);
    } else {
      this.base = state;
      this.store.reset(state);
    }
    this.onDetail(detail);
  }

  done(action) {
    if (action === "save") {
      this.status(gettext("Saved."), "ok");
      return;
    }
    if (action === "claim") {
      this.leave(window.location.href);
      return;
    }
    if (action === "release") {
      this.leave(this.page.urls.home);
      return;
    }
    // The stage's work on this sample is done: on to the next one of the same queue.
    this.status(gettext("Done. Opening the next sample…"), "ok");
    this.leaving = true;
    this.elements.nextForm.submit();
  }

  leave(url) {
    this.leaving = true;
    window.location.assign(url);
  }

  failed(error) {
    if (!(error instanceof ApiError)) {
      this.status(gettext("Network error: %(reason)s", { reason: error.message }), "error");
      return;
    }
    const data = error.data;
    if (error.status === 409 && data.code === "stale_version" && data.current) return this.conflict(data.current);
    if (error.status === 409 && data.code === "lease_expired") {
      this.status(gettext("Your lease on this sample expired. Reload the page to claim it again."), "error");
      return;
    }
    // The sentence is the page's language; the per-field messages are the server's (English),
    // next to the field's name in the page's language.
    const problems = Object.entries(data.errors || {}).map(([path, messages]) =>
      h("li", { dataset: { path } }, h("strong", {}, this.pathLabel(path)), ": ", h("span", { lang: "en" }, [].concat(messages).join("; "))),
    );
    this.elements.status.className = "work-status error";
    this.elements.status.replaceChildren(
      h("span", { class: "error-sentence", dataset: { code: data.code || "" } }, errorSentence(error)),
      problems.length ? h("ul", { class: "error-list" }, ...problems) : "",
    );
    for (const path of Object.keys(data.errors || {})) this.markError(path);
  }

  pathLabel(path) {
    const match = path.match(/^regions\[(\d+)\]/);
    if (match) return gettext("region #%(n)s", { n: Number(match[1]) + 1 });
    return this.labels[path] || path;
  }

  markError(path) {
    const field = path.match(/^fields\.(\w+)/);
    const caption = path.match(/^captions\.(\w+)/);
    let element = null;
    if (field) element = document.querySelector(`.field-row[data-field="${field[1]}"]`);
    else if (caption) element = document.querySelector(`.caption-column[data-language="${caption[1]}"]`);
    if (element) {
      element.classList.add("invalid");
      setTimeout(() => element.classList.remove("invalid"), 6000);
    }
  }

  // -- the stale write ----------------------------------------------------------------------------

  conflict(current) {
    const sample = current.sample_info;
    const theirs = stateFromContent(current.content, sample.width, sample.height);
    const changed = changedParts(this.base, theirs);
    const list = this.elements.conflictDialog.querySelector("#conflict-changes");
    const who = current.content.author ? gettext("revision %(n)s", { n: current.content.number }) : "";
    list.replaceChildren(
      ...(changed.length ? changed : ["state"]).map((part) => h("li", {}, part === "state" ? gettext("the sample's state") : this.labels[part] || part)),
      h("li", { class: "muted small" }, gettext("now at version %(version)s", { version: current.version }), who ? ` · ${who}` : ""),
    );
    this.pendingConflict = { current, theirs };
    this.status(gettext("Not saved: someone saved this sample first."), "error");
    this.elements.conflictDialog.showModal();
  }

  bindDialogs() {
    const dialog = this.elements.conflictDialog;
    dialog.querySelector("#conflict-reapply").addEventListener("click", () => {
      const { current, theirs } = this.pendingConflict;
      const mine = this.store.state;
      const base = this.base;
      this.loaded(current);
      this.store.update(() => reapply(base, mine, theirs));
      dialog.close();
      this.status(gettext("Your edits are on top of the newer version: check them and save again."), "dirty");
    });
    dialog.querySelector("#conflict-discard").addEventListener("click", () => {
      this.loaded(this.pendingConflict.current);
      dialog.close();
      this.status(gettext("Loaded the newer version."), "ok");
    });
    const changes = this.elements.changesDialog;
    changes.querySelector("#changes-cancel").addEventListener("click", () => changes.close());
    changes.querySelector("#changes-add").addEventListener("click", () => this.comments.add({}));
    changes.querySelector("#changes-send").addEventListener("click", () => this.sendChanges());
  }

  // -- skip ----------------------------------------------------------------------------------------

  openSkip() {
    const dialog = this.elements.skipDialog;
    if (this.store.dirty) this.status(gettext("Skipping drops your unsaved edits."), "dirty");
    dialog.showModal();
    dialog.querySelector('input[name="reason"]:checked').focus();
  }

  bindSkip() {
    const dialog = this.elements.skipDialog;
    const form = dialog.querySelector("#skip-form");
    const other = dialog.querySelector("#skip-other");
    other.addEventListener("focus", () => {
      form.querySelector('input[name="reason"][value="other"]').checked = true;
    });
    dialog.querySelector("#skip-cancel").addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const choice = form.querySelector('input[name="reason"]:checked').value;
      const reason = choice === "other" ? other.value.trim() : choice;
      if (!reason) {
        other.focus();
        return;
      }
      dialog.close();
      await this.skip(reason);
    });
  }

  /** Hand the sample back with a reason and open the next one of the same stage. */
  async skip(reason) {
    this.busy = true;
    this.refresh();
    this.status(gettext("Working…"), "busy");
    try {
      const result = await post(this.url("skip"), { version: this.version, reason });
      this.leaving = true;
      if (result.next) window.location.assign(this.page.urls.work.replace(/\/0\/$/, `/${result.next}/`));
      else window.location.assign(`${this.page.urls.home}?empty=${encodeURIComponent(this.mode)}`);
    } catch (error) {
      this.busy = false;
      this.refresh();
      this.failed(error);
    }
  }

  async renewLease() {
    try {
      const detail = await post(this.url("renew-lease"));
      this.detail.lease_expires_at = detail.lease_expires_at;
    } catch (error) {
      const reason = error instanceof ApiError ? errorSentence(error) : error.message;
      this.status(gettext("Could not renew your lease: %(reason)s", { reason }), "error");
    }
  }
}
