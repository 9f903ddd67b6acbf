"""Visitor forms of a generated question: how people type it into a kiosk or a chat box.

The generators write questions as an editor would ("When did the Vietnam War end?", "What is the
capital of Vietnam?"); visitors write "when did vietnam war end", "whats the capital of vietnam",
"who was tran hung dao": lowercase, no question mark, names without diacritics, contractions,
articles dropped. A model taught only the first kind meets the second at answer time (the
natural-question set is written that way), and so does the relevance gate, whose positives come
from these questions. Each form is derived from a question that already passed every check of the
selection step, by rewrites that keep its meaning, so it asks the same fact with the same short
answer.
"""

from __future__ import annotations

import re

from docent.qa.grounding import normalize_text
from docent.text.normalize import strip_accents

# Rewrites on the folded text (lowercase, accents and punctuation gone), first match wins per rule.
_CONTRACTIONS = ((re.compile(r"^what is "), "whats "), (re.compile(r"^who is "), "whos "),
                 (re.compile(r"^where is "), "wheres "), (re.compile(r"^in what year "), "what year "),
                 (re.compile(r"^in which year "), "what year "))
_POSSESSIVE = re.compile(r"(\w)['’]s\b")
_ARTICLES = re.compile(r"\b(?:the|a|an) ")
# Punctuation goes, except inside numbers ("3,358.6 km2", "1.4 solar masses") and code words
# ("os.path", "upgrade_deps", "application/gzip"), which visitors type as written, and a sign that
# carries meaning after a number ("40%").
_PUNCTUATION = re.compile(r"(?<!\d)%|[^\w\s%]+(?!\w)|(?<!\w)[^\w\s]+")


def visitor_text(text: str) -> str:
    """Lowercase, no diacritics, no punctuation but inside words and numbers, single spaces."""
    return " ".join(_PUNCTUATION.sub(" ", strip_accents(text).casefold()).split())


def colloquial_forms(question: str) -> list[str]:
    """Up to two visitor forms of `question`, different from it and from each other as the selection
    step compares questions (`normalize_text`: case and punctuation folded, accents kept): the
    question folded with contractions ("whats", "what year") and names without diacritics, then
    the same without articles. A form that only changes case or punctuation is no new phrasing, so
    a question with nothing to contract, fold or drop gets one form or none."""
    text = visitor_text(_POSSESSIVE.sub(r"\1s", question))
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text, count=1)
    seen = {normalize_text(question)}
    out: list[str] = []
    for form in (text, _ARTICLES.sub("", text)):
        key = normalize_text(form)
        # at least the wh-word and one more word ("whats napalm" is a question; "whats" is not)
        if key not in seen and len(form.split()) >= 2:
            seen.add(key)
            out.append(form)
    return out
