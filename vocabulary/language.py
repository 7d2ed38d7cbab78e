import threading

from langdetect import DetectorFactory, LangDetectException, detect
from langdetect.detector_factory import init_factory

# langdetect is randomised; a fixed seed makes the same text always get the same answer.
DetectorFactory.seed = 0
# Its profiles load lazily into a global on first use, which races when import threads start
# together; load them once, here, and keep detection itself to one thread at a time.
init_factory()
_detect_lock = threading.Lock()

# langdetect's codes for the platform's languages; anything else is kept as langdetect names it.
_PLATFORM_CODES = {"zh-cn": "zh", "zh-tw": "zh", "en": "en", "ja": "ja"}


def _has_kana(text: str) -> bool:
    return any("\u3040" <= char <= "\u30ff" for char in text)


def detect_language(text: str) -> str:
    """ISO code of the text's language ('en', 'zh', 'ja', ...), or '' when there is nothing to detect."""
    if not text.strip():
        return ""
    try:
        with _detect_lock:
            code = detect(text)
    except LangDetectException:
        return ""
    code = _PLATFORM_CODES.get(code, code)
    # Kanji-heavy Japanese can read as Chinese to langdetect; kana settle it, Chinese has none.
    if code == "zh" and _has_kana(text):
        return "ja"
    return code
