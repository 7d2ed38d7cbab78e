// What the pages say when the server refuses a request: one translated sentence per error code
// (annotation/error_codes.py; the server's own pages use annotation/web/error_messages.py). The
// server's `detail` is English for API clients; the pages show it only when the code is unknown.

import { gettext } from "./text.js";

const SENTENCES = {
  invalid: () => gettext("Some of what you sent is not valid."),
  transition_not_allowed: () => gettext("This step is not possible in the sample's current state."),
  role_required: () => gettext("Your role does not allow this step."),
  own_work: () => gettext("You worked on an earlier stage of this sample: someone else must do this one."),
  not_assignee: () => gettext("This sample is reserved for another annotator."),
  not_lease_holder: () => gettext("You do not hold this sample (someone else may be working on it)."),
  already_voted: () => gettext("Your vote on this revision is already in."),
  panel_full: () => gettext("The consensus panel of this sample is full."),
  stale_version: () => gettext("Someone saved this sample since you opened it."),
  lease_expired: () => gettext("Your lease on this sample expired: claim it again."),
};

export const ERROR_CODES = Object.keys(SENTENCES);

/** The sentence for an ApiError (its data.code), else by HTTP status, else the server's words. */
export function errorSentence(error) {
  const code = error.data && error.data.code;
  if (code && SENTENCES[code]) return SENTENCES[code]();
  if (error.status === 403) return gettext("You are not allowed to do this.");
  if (error.status === 404) return gettext("Not found: it may have been deleted, or you may not see it.");
  if (error.status >= 500) return gettext("The server failed (HTTP %(status)s). Try again; if it persists, tell an administrator.", { status: error.status });
  return (error.data && error.data.detail) || error.message;
}
