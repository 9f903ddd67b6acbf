"""Unicode and whitespace normalization, and the removal of Wikipedia's inline markers.

NFC composes base letters and combining marks into single code points, so "Hồ Chí Minh"
typed with combining accents and the precomposed spelling become the same string; no accent
is ever stripped.
"""

from __future__ import annotations

import re
import unicodedata

# Invisible characters that only break words apart or glue them wrongly: soft hyphen, zero-width
# space, word joiner, BOM. ZWJ/ZWNJ stay (they carry meaning in Indic and Persian scripts).
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u2060\ufeff"), None)

# Wikipedia's maintenance tags: [citation needed], [clarification needed], [who?], [dubious – discuss]...
_MAINTENANCE = (
    r"[^\[\]]{0,40}?\bneeded\b[^\[\]]{0,30}|[^\[\]]{0,30}?\brequired\b|"
    r"(?:according to |by )?whom\??|who\??|when\??|which\??|why\??|where\??|how\??|"
    r"dubious[^\[\]]{0,20}|disputed[^\[\]]{0,20}|failed verification[^\[\]]{0,20}|"
    r"verify|verification|original research\??|unreliable source\??|self-published source\??|"
    r"non-primary source|third-party source|sic|vague|specify|quantify|contradictory|"
    r"permanent dead link|dead link|update|not in citation given|opinion|promotional language|"
    r"improper synthesis\??|irrelevant citation|weasel words|edit"
)
# [1], [23], [a], [iv], [note 3], [nb 2], [lower-alpha 1] and the maintenance tags above.
CITATION_MARKER = re.compile(
    r"\[\s*(?:\d{1,4}|[a-zA-Z]{1,2}|[ivxlc]{1,6}|(?:note|nb|n|fn|lower-alpha|upper-alpha|lower-roman)\s*\d{1,4}|"
    + _MAINTENANCE + r")\s*\]",
    re.IGNORECASE,
)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)\]])")
_SPACE_AFTER_OPEN = re.compile(r"([(\[])\s+")
_EMPTY_BRACKETS = re.compile(r"\(\s*[,;:]?\s*\)|\[\s*\]")
_LEADING_SEPARATOR = re.compile(r"\(\s*[,;]\s*")
_REPEATED_COMMA = re.compile(r",(?:\s*,)+")


def normalize_unicode(text: str) -> str:
    """NFC, invisible characters removed, other control characters turned into spaces."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)


def normalize_whitespace(text: str) -> str:
    """Every run of Unicode whitespace (NBSP, tabs, line breaks...) becomes one space."""
    return " ".join(text.split())


def strip_citation_markers(text: str) -> str:
    """'in 1945.[1][citation needed] He' -> 'in 1945. He'."""
    previous = None
    while previous != text:  # nested or adjacent markers: "[[1]]"
        previous, text = text, CITATION_MARKER.sub("", text)
    return text


def tidy_punctuation(text: str) -> str:
    """Repair what removed markers and pronunciation leave behind: ' ,', '( ;', '()'."""
    text = _EMPTY_BRACKETS.sub("", text)
    text = _LEADING_SEPARATOR.sub("(", text)
    text = _REPEATED_COMMA.sub(",", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _SPACE_AFTER_OPEN.sub(r"\1", text)
    return normalize_whitespace(text)


def clean_inline(text: str, markers: bool = True) -> str:
    """A paragraph's raw text -> one normalized line.

    `markers`: strip Wikipedia-style citation markers ("[1]", "[citation needed]") and repair what
    they leave behind. Documentation generators mark footnotes up as elements (removed before this),
    and there a bracket in prose is text ("the list [x]"), so their pages pass False.
    """
    text = normalize_whitespace(normalize_unicode(text))
    if markers:
        return tidy_punctuation(strip_citation_markers(text))
    return normalize_whitespace(_SPACE_BEFORE_PUNCT.sub(r"\1", text))


# Letters NFKD does not decompose into a base letter plus a mark.
_UNMARKED_LETTERS = str.maketrans({"đ": "d", "Đ": "D", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss",
                                   "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ı": "i"})
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def strip_accents(text: str) -> str:
    """Letters without their diacritics ("Trần Hưng Đạo" -> "Tran Hung Dao"); case and punctuation kept."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNMARKED_LETTERS))
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def fold_for_matching(text: str) -> str:
    """Search-and-compare form: accents and case folded, punctuation to spaces ("Huế," -> "hue").

    For matching only (retrieval terms, is this fact in that answer), never for stored text:
    visitors type "hue" and "tran hung dao", the corpus says "Huế" and "Trần Hưng Đạo".
    """
    return " ".join(_NON_WORD.sub(" ", strip_accents(text).casefold()).split())


_THOUSANDS = re.compile(r"(?<=\d)[,\u202f\u00a0 ](?=\d{3}(?!\d))")
_NUMBER_WORDS = {w: str(n) for n, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"))}
# Words a short answer may carry that no answer needs to repeat ("France and the Viet Minh").
_LINKING_WORDS = frozenset({"the", "a", "an", "and", "or", "of", "to", "in", "on", "at", "by", "for", "from"})


def fact_terms(text: str) -> list[str]:
    """Folded words with numbers normalized: "4,909 km" -> ["4909", "km"], "three years" -> ["3", "years"]."""
    words = fold_for_matching(_THOUSANDS.sub("", text)).split()
    return [_NUMBER_WORDS.get(w, w) for w in words]


def states_fact(answer: str, short_answer: str) -> bool:
    """Whether an answer states the fact a short answer names: every word of the short answer that
    carries content ("AD 40" -> ad, 40) is a word of the answer, in any order ("40 AD" states it)."""
    wanted = fact_terms(short_answer)
    if not wanted:
        # symbols only ("==", "->"): folding leaves no word, so the answer must hold them as written
        # ("... followed by == and the version" states "==")
        return bool(short_answer.strip()) and short_answer.strip() in answer
    content = [w for w in wanted if w not in _LINKING_WORDS] or wanted
    have = set(fact_terms(answer))
    return bool(content) and all(w in have for w in content)
