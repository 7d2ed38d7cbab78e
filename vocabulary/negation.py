"""Negation scope, NegEx-style, in English, Chinese and Japanese.

"No visible cracks or scratches", "表面无划痕", "傷や割れは見られない": the terms are mentioned, but
as absent. A trigger opens a scope that runs forward (English "no", "without"; Chinese 无, 未见) or
backward (English "... not observed", "scratch-free"; Japanese ない, 見られず; a Chinese 未发现 that
ends its clause) until a clause boundary: sentence punctuation, a contrast word (but, 但, が、), or,
in English, a comma or "and" that starts a new clause ("no cracks, a dent near the rim"). Pseudo
triggers ("not only", 无规则 irregular, 无纺布 nonwoven, 少ない few) are words that look like a
negation and are not one.

The normalizer flags a mention negated when it lies wholly inside a scope and does not overlap the
trigger itself (so 无缺陷 and 欠陥なし, names that contain their negation, stay findings).
"""

import re

from .text import fold, to_simplified

# English ----------------------------------------------------------------------------------------

_EN_PSEUDO = (
    r"not only|not just|no longer|no doubt|without doubt|not necessarily|no change|no increase|"
    r"whether or not|no matter|not clear|nothing but|no sooner|"
    # Defect names that begin with a negation word: a lack of fusion is a defect, not an absence.
    r"lack of (?:fusion|penetration|adhesion|fill|sidewall fusion)|no fill|non fill"
)
_EN_PRE = (
    r"no|not|without|none of|never|neither|nor|free of|free from|absence of|absent|lack of|lacks|lacking|"
    r"devoid of|rules? out|ruled out|excluding|negative for|cannot see|can't see|zero"
)
_EN_POST = (
    r"\b(?:(?:is|are|was|were|be|been)\s+)?not\s+(?:seen|visible|present|observed|found|detected|evident|apparent|noted)\b"
    r"|\b(?:is|are|was|were)n't\s+(?:seen|visible|present|observed|found|detected|evident|apparent|noted)\b"
    r"|\b(?:is|are|was|were)\s+absent\b|\b(?:was|were|is|are|been)\s+(?:ruled out|excluded)\b|:\s*none\b"
)
# "scratch-free" (folded to "scratch free") negates the words it is built on, never the whole clause
# before it: in "a crack in the lead-free solder" only the lead is absent.
_EN_FREE = r"\s+free\b(?!\s+(?:of|from))"
# Read on the folded text (lower-case, '-' as a space, positions kept): no IGNORECASE, which makes
# Python's matcher several times slower on an alternation this long.
_EN_TRIGGER = re.compile(
    rf"\b(?P<pseudo>{_EN_PSEUDO})\b|\b(?P<pre>{_EN_PRE})\b|(?P<post>{_EN_POST})|(?P<free>{_EN_FREE})"
)
# Where a scope ends: sentence punctuation (not a decimal point), a contrast word, or a comma / "and"
# that opens a new clause with a determiner or pronoun.
_EN_CLAUSE_START = r"(?:a|an|the|there|it|its|this|these|those|one|two|three|some|several|which|with|but)"
_EN_BOUNDARY = re.compile(
    r"[.!?;:](?!\d)|\b(?:but|however|although|though|yet|except|apart from|aside from|other than|whereas|"
    r"while|instead|only)\b|,\s*(?=" + _EN_CLAUSE_START + r"\b)|\band\s+(?=(?:a|an|the|one|two|some|several)\b)"
)
# NegEx's window: a scope never runs further than this many words from its trigger.
_EN_MAX_WORDS = 12
# A "-free" compound reaches back over its nouns ("scratch and dent free") and stops at the first
# word that cannot be part of one, or after this many words.
_EN_FREE_MAX_WORDS = 4
_EN_FREE_STOP = frozenset(
    "a an the this that these those its their his her our your in on at of to by for from with into onto "
    "over under near is are was were be been being has have had appears appear looks look remains seems".split()
)
_WORD = re.compile(r"\S+")

# Chinese ----------------------------------------------------------------------------------------

_ZH_PSEUDO = (
    r"无规则|无规律|无纺|无机|无缝|无铅|无色|无光|无法|无数|无序|无损检测|无尘|无线|无关|无论|无需|无须|无刷|"
    r"淹没|埋没|沉没|未知|不规则|不均|不平|不良|不足|不齐|不圆|不合格|不一致|不对称|不连续|不清|不透"
)
_ZH_TRIGGER_WORDS = (
    r"未见|未发现|未观察到|未检出|未检测到|未出现|未有|未见到|没有|没见|没看到|没发现|并无|毫无|不存在|"
    r"不见|看不到|不含|无任何|无明显|无"
)
_ZH_TRIGGER_PREFIXES = "均|都|皆|也|亦|并"
# The characters a pseudo trigger or a trigger can start with, looked at first: without it, Python's
# matcher tries the whole alternation at every character of the text (four times slower).
_ZH_FIRST_CHARS = "".join(
    sorted({word[0] for word in f"{_ZH_PSEUDO}|{_ZH_TRIGGER_WORDS}|{_ZH_TRIGGER_PREFIXES}".split("|")})
)
_ZH_TRIGGER = re.compile(
    rf"(?=[{_ZH_FIRST_CHARS}])"
    rf"(?:(?P<pseudo>{_ZH_PSEUDO})|(?P<trigger>(?:{_ZH_TRIGGER_PREFIXES})?(?:{_ZH_TRIGGER_WORDS})))"
)
_ZH_BOUNDARY = re.compile(r"[，。；！？,;!?\n]|但是|但|然而|不过|只是|而且|而|另有|另外|此外")
_CJK_MAX_CHARS = 30

# Japanese ---------------------------------------------------------------------------------------

_JA_PSEUDO = (
    r"少な[いく]|危な[いく]|間もな[いく]|違いな[いく]|限りな[いく]|程な[いく]|仕方な[いく]|だけでなく|のみならず"
)
# Absence in Japanese: ない/なく/なかった right after は, も, が or の (傷はない, 割れもなく, 傷のない),
# なし / 無し / 無い, or a verb of seeing or being in the negative (見られない, 認められず, 見当たらない,
# ありません). A negated action ("接触していない", not touching) says nothing is absent; bare ず is
# inside ずれ, まず, わずか.
_JA_SEEING = (
    "見られ|認められ|確認され|確認でき|検出され|観察され|発見され|見当たら|存在し|ありませ|見え|生じてい|出てい"
)
# As in Chinese, the characters a match can start with are looked at first.
_JA_FIRST_CHARS = "".join(sorted({word[0] for word in f"{_JA_PSEUDO}|{_JA_SEEING}".split("|")} | set("な無")))
_JA_TRIGGER = re.compile(
    rf"(?=[{_JA_FIRST_CHARS}])"
    rf"(?:(?P<pseudo>{_JA_PSEUDO})|(?P<trigger>(?:{_JA_SEEING})(?:ない|なく|なかっ|ず|ません|ん)"
    r"|(?<=[はもがの])(?:ない|なく|なかっ)|なし|無し|無い|無く))"
)
# A Japanese clause ends at sentence punctuation, at a conjunctive form followed by a comma
# (あり、 / あって、 / で、 / が、), or at a contrast word.
_JA_BOUNDARY = re.compile(r"[。！？!?\n]|(?<=[てでりくがし])、|ものの|一方|しかし|ただし|けれど|けど")


_CJK = re.compile("[\u3040-\u9fff]")
_KANA = re.compile("[\u3040-\u30ff\uff66-\uff9d]")  # halfwidth katakana too (ｸﾗｯｸ)


def _has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def _has_kana(text: str) -> bool:
    return _KANA.search(text) is not None


# Every English trigger (pre or post, pseudo ones aside) holds one of these words, whole: the
# alternations above, word by word ("n't" is read as its own word "t", as the normalizer's match view
# makes it). Most captions hold none, and looking for them costs nothing where the trigger expression
# costs a hundred microseconds: the normalizer has them as names of its automaton (matching.py), so
# its one pass over the text also says whether english_scopes needs to run.
ENGLISH_TRIGGER_WORDS = (
    "no", "not", "without", "none", "never", "neither", "nor", "free", "absence", "absent",
    "lack", "lacks", "lacking", "devoid", "rule", "rules", "ruled", "excluding", "excluded",
    "negative", "cannot", "can t", "isn t", "aren t", "wasn t", "weren t", "zero",
)  # fmt: skip
# Every Chinese and Japanese trigger holds one of these characters.
_ZH_TRIGGER_CHAR = re.compile("[未没并毫不看无]")
_JA_TRIGGER_CHAR = re.compile("[なず無ん]")


def cjk_scopes(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of text that its Chinese or Japanese negation triggers cover (Japanese
    where the text has kana)."""
    if _has_kana(text):
        return _japanese_scopes(text) if _JA_TRIGGER_CHAR.search(text) else []
    # Traditional Chinese (沒有, 無, 並未) is read as simplified, one character for one: positions hold.
    text = to_simplified(text)
    if _ZH_TRIGGER_CHAR.search(text) and _has_cjk(text):
        return _chinese_scopes(text)
    return []


def english_scopes(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of text that its English negation triggers cover."""
    return _english_scopes(fold(text))


def is_negated(scopes: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(scope_start <= start and end <= scope_end for scope_start, scope_end in scopes)


def _english_scopes(text: str) -> list[tuple[int, int]]:
    """Scopes in a folded text (positions are the original's)."""
    triggers = [match for match in _EN_TRIGGER.finditer(text) if not match["pseudo"]]
    if not triggers:
        return []
    boundaries = [(m.start(), m.end()) for m in _EN_BOUNDARY.finditer(text)]
    scopes = []
    for match in triggers:
        if match["pre"]:
            start = match.end()
            end = next((b_start for b_start, _ in boundaries if b_start >= start), len(text))
            scopes.append((start, _limit_forward(text, start, end)))
        else:
            end = match.start()
            start = max((b_end for _, b_end in boundaries if b_end <= end), default=0)
            if match["free"]:
                scopes.append((_free_compound_start(text, start, end), end))
            else:
                scopes.append((_limit_backward(text, start, end), end))
    return scopes


def _free_compound_start(text: str, start: int, end: int) -> int:
    """Where the words a "-free" compound is built on begin: back from the trigger over at most
    _EN_FREE_MAX_WORDS words, stopping at an article, a preposition or a verb."""
    words = list(_WORD.finditer(text, start, end))[-_EN_FREE_MAX_WORDS:]
    begin = end
    for word in reversed(words):
        if word.group().strip(",()") in _EN_FREE_STOP:
            break
        begin = word.start()
    return begin


def _limit_forward(text: str, start: int, end: int) -> int:
    words = list(_WORD.finditer(text, start, end))
    return words[_EN_MAX_WORDS - 1].end() if len(words) > _EN_MAX_WORDS else end


def _limit_backward(text: str, start: int, end: int) -> int:
    words = list(_WORD.finditer(text, start, end))
    return words[-_EN_MAX_WORDS].start() if len(words) > _EN_MAX_WORDS else start


def _chinese_scopes(text: str) -> list[tuple[int, int]]:
    triggers = [match for match in _ZH_TRIGGER.finditer(text) if not match["pseudo"]]
    if not triggers:  # most texts with a trigger character: 不良, 不均, 无规则 are no negation
        return []
    boundaries = [(m.start(), m.end()) for m in _ZH_BOUNDARY.finditer(text)]
    scopes = []
    for match in triggers:
        forward_end = next((b_start for b_start, _ in boundaries if b_start >= match.end()), len(text))
        if forward_end > match.end():  # "无划痕": the scope runs forward to the clause's end
            scopes.append((match.end(), min(forward_end, match.end() + _CJK_MAX_CHARS)))
        else:  # "划痕均未发现。": the trigger ends its clause and looks back
            start = max((b_end for _, b_end in boundaries if b_end <= match.start()), default=0)
            scopes.append((max(start, match.start() - _CJK_MAX_CHARS), match.start()))
    return scopes


def _japanese_scopes(text: str) -> list[tuple[int, int]]:
    triggers = [match for match in _JA_TRIGGER.finditer(text) if not match["pseudo"]]
    if not triggers:
        return []
    boundaries = [m.end() for m in _JA_BOUNDARY.finditer(text)]
    scopes = []
    for match in triggers:
        start = max((b_end for b_end in boundaries if b_end <= match.start()), default=0)
        scopes.append((max(start, match.start() - _CJK_MAX_CHARS), match.start()))
    return scopes
