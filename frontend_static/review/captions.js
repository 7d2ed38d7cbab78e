// Captions in English, Chinese and Japanese side by side. Controlled terms are highlighted as the
// expert types; the caption validator's findings (wrong language, a term named in one language
// and missing in another, words that look like defect terms but are not in the vocabulary, with
// suggestions) appear under each caption; a diff against the LLM draft or the previous stage
// can be shown under each.

import { post } from "./api.js";
import { diff } from "./diff.js";
import { LANGUAGES, LANGUAGE_NAMES, codePointSpanToUtf16, h, gettext } from "./text.js";

const VALIDATE_DELAY_MS = 350;

export function renderCaptions({ container, store, urls, editable, required, comments, statusElement, summaryElement }) {
  const columns = {};
  let report = null;
  let compareTexts = null; // {en, zh, ja} or null
  let compareLabel = "";
  let timer = null;
  let sequence = 0;

  for (const language of LANGUAGES) {
    const backdrop = h("div", { class: "caption-backdrop", "aria-hidden": "true" });
    const textarea = h("textarea", {
      class: "caption-input",
      lang: language,
      rows: "4",
      spellcheck: "false",
      readonly: !editable,
      dataset: { language },
      "aria-label": gettext("Caption in %(language)s", { language: LANGUAGE_NAMES[language] }),
    });
    textarea.addEventListener("input", () => {
      store.update((state) => ({ ...state, captions: { ...state.captions, [language]: textarea.value } }), {
        group: `caption-${language}`,
      });
    });
    textarea.addEventListener("scroll", () => {
      backdrop.scrollTop = textarea.scrollTop;
    });
    const meta = h("span", { class: "caption-meta muted small" });
    const findings = h("ul", { class: "findings" });
    const diffBox = h("div", { class: "caption-diff", hidden: true });
    const pinned = h("div", { class: "caption-comments" });
    const column = h(
      "div",
      { class: "caption-column", dataset: { language } },
      h(
        "div",
        { class: "caption-head" },
        h("strong", {}, LANGUAGE_NAMES[language]),
        required.includes(language) ? h("span", { class: "required", title: gettext("required") }, " *") : null,
        meta,
        h("span", { class: "row-spacer" }),
        comments.pinButton(`captions.${language}`, LANGUAGE_NAMES[language]),
      ),
      h("div", { class: "caption-editor" }, backdrop, textarea),
      pinned,
      findings,
      diffBox,
    );
    columns[language] = { column, textarea, backdrop, meta, findings, diffBox, pinned };
    container.append(column);
  }

  function validateSoon() {
    clearTimeout(timer);
    timer = setTimeout(validate, VALIDATE_DELAY_MS);
  }

  async function validate() {
    const captions = {};
    for (const language of LANGUAGES) captions[language] = store.state.captions[language] || "";
    if (!Object.values(captions).some((text) => text.trim())) {
      report = null;
      paint();
      return;
    }
    const mine = ++sequence;
    statusElement.textContent = gettext("Checking captions…");
    try {
      const result = await post(urls.validate, { captions });
      if (mine !== sequence) return;
      report = { captions, result };
      statusElement.textContent = result.passed ? gettext("Captions pass the validator.") : gettext("The validator found problems.");
    } catch (error) {
      statusElement.textContent = gettext("The validator is unavailable: %(reason)s", { reason: error.message });
    }
    paint();
  }

  /** One line for the folded drawer: each language's length and the validator's problems. */
  function summarize() {
    if (!summaryElement) return;
    const state = store.state;
    const current = report ? report.result : null;
    const errors = current ? current.findings.filter((f) => f.severity === "error").length : 0;
    const parts = LANGUAGES.map((language) => {
      const text = (state.captions[language] || "").trim();
      return `${language.toUpperCase()} ${text ? "✓" : "—"}`;
    });
    if (errors) parts.push(gettext("%(count)s problems", { count: errors }));
    summaryElement.textContent = parts.join(" · ");
  }

  function paint() {
    summarize();
    const state = store.state;
    for (const language of LANGUAGES) {
      const { textarea, backdrop, meta, findings, diffBox, column, pinned } = columns[language];
      const text = state.captions[language] || "";
      if (textarea.value !== text) textarea.value = text;
      // The report is about the text it was computed for; while the expert types on, keep the
      // highlights only if this caption has not changed since.
      const current = report && report.captions[language] === text ? report.result : null;
      const check = current && current.captions[language];
      const mine = current ? current.findings.filter((f) => f.language === language) : [];
      backdrop.replaceChildren(...highlight(text, check ? check.mentions : [], mine));
      backdrop.scrollTop = textarea.scrollTop;
      column.classList.toggle("has-error", mine.some((f) => f.severity === "error"));
      meta.textContent = check
        ? [
            language === "en" ? gettext("%(count)s words", { count: check.word_count }) : gettext("%(count)s characters", { count: check.character_count }),
            check.detected_language ? gettext("reads as %(language)s", { language: LANGUAGE_NAMES[check.detected_language] || check.detected_language }) : "",
          ]
            .filter(Boolean)
            .join(" · ")
        : "";
      findings.replaceChildren(...mine.filter((f) => f.code !== "empty" || required.includes(language)).map((f) => findingItem(f, language, text)));
      comments.showPinned(pinned, { field: `captions.${language}` });
      if (compareTexts) {
        diffBox.hidden = false;
        const before = compareTexts[language] || "";
        if (before === text) {
          diffBox.replaceChildren(h("div", { class: "muted small" }, compareLabel, " · ", gettext("unchanged")));
          continue;
        }
        diffBox.replaceChildren(
          h("div", { class: "muted small" }, compareLabel),
          h(
            "p",
            { class: "diff", lang: language },
            ...diff(before, text, language).map((part) =>
              part.op === "same" ? part.text : h(part.op === "del" ? "del" : "ins", {}, part.text),
            ),
          ),
        );
      } else {
        diffBox.hidden = true;
      }
    }
  }

  function findingItem(finding, language, text) {
    const item = h("li", { class: `finding ${finding.severity}`, dataset: { code: finding.code } }, findingMessage(finding));
    if (finding.code === "out_of_vocabulary" && finding.span && editable) {
      const [start, end] = codePointSpanToUtf16(text, finding.span[0], finding.span[1]);
      for (const suggestion of finding.suggestions) {
        item.append(
          " ",
          h(
            "button",
            {
              type: "button",
              class: "suggestion",
              title: gettext("Replace with the vocabulary term"),
              onclick: () =>
                store.update((state) => {
                  const current = state.captions[language] || "";
                  if (current.slice(start, end) !== text.slice(start, end)) return state;
                  const replaced = current.slice(0, start) + suggestion.label + current.slice(end);
                  return { ...state, captions: { ...state.captions, [language]: replaced } };
                }),
            },
            `→ ${suggestion.label}`,
          ),
        );
      }
    }
    return item;
  }

  let validatedCaptions = store.state.captions;
  store.subscribe((state) => {
    paint();
    if (state.captions !== validatedCaptions) {
      validatedCaptions = state.captions;
      validateSoon();
    }
  });
  paint();
  validate();

  return {
    setComparison(texts, label) {
      compareTexts = texts;
      compareLabel = label;
      paint();
    },
  };
}

/** The backdrop behind a caption: its text with the controlled terms and the flagged words marked. */
function highlight(text, mentions, findings) {
  const marks = [];
  for (const mention of mentions) {
    const [start, end] = codePointSpanToUtf16(text, mention.start, mention.end);
    marks.push({ start, end, kind: "term", title: mention.term });
  }
  for (const finding of findings) {
    if (!finding.span) continue;
    const [start, end] = codePointSpanToUtf16(text, finding.span[0], finding.span[1]);
    marks.push({ start, end, kind: finding.code === "deprecated_term" ? "deprecated" : "oov", title: finding.message });
  }
  marks.sort((a, b) => a.start - b.start || b.end - a.end);
  const nodes = [];
  let position = 0;
  for (const mark of marks) {
    if (mark.start < position) continue; // overlapping: the first (longest) wins
    nodes.push(text.slice(position, mark.start));
    nodes.push(h("mark", { class: mark.kind, title: mark.title }, text.slice(mark.start, mark.end)));
    position = mark.end;
  }
  nodes.push(text.slice(position));
  nodes.push("\n"); // a trailing newline in a textarea needs a line in the backdrop too
  return nodes;
}

function findingMessage(finding) {
  const language = LANGUAGE_NAMES[finding.language] || finding.language;
  switch (finding.code) {
    case "wrong_language": {
      const detected = finding.message.split(" reads as ").pop();
      return gettext("This caption reads as %(detected)s, not %(language)s.", { detected: LANGUAGE_NAMES[detected] || detected, language });
    }
    case "missing_in_language": {
      const expected = (finding.message.match(/expected e\.g\. '(.+)'\)$/) || [])[1] || finding.term;
      const from = (finding.message.match(/ is named in (\w+) /) || [])[1];
      return gettext("“%(term)s” is named in %(from)s but missing here.", { term: expected, from: LANGUAGE_NAMES[from] || from });
    }
    case "out_of_vocabulary": {
      const word = (finding.message.match(/^'(.+)' looks like/) || [])[1] || "";
      return finding.suggestions.length
        ? gettext("“%(word)s” is not in the vocabulary. Did you mean:", { word })
        : gettext("“%(word)s” looks like a defect term but is not in the vocabulary.", { word });
    }
    case "deprecated_term": {
      const [, word, replacement] = finding.message.match(/^'(.+)' is a deprecated term(?:; use (.+))?$/) || [];
      return replacement
        ? gettext("“%(word)s” is a deprecated term; use “%(replacement)s”.", { word, replacement })
        : gettext("“%(word)s” is a deprecated term.", { word: word || finding.term });
    }
    case "length": {
      const [, count, target, low, high] = finding.message.match(/^(\d+) words; the target is about (\d+) \((\d+)-(\d+)\)/) || [];
      return count
        ? gettext("%(count)s words; aim for about %(target)s (%(low)s–%(high)s).", { count, target, low, high })
        : finding.message;
    }
    case "empty":
      return gettext("The caption is empty.");
    default:
      return finding.message;
  }
}
