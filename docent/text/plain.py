"""Plain text -> paragraphs: blank lines separate paragraphs, bullet lines are items of their own."""

from __future__ import annotations

import re

from docent.text.html import is_end_section
from docent.text.normalize import clean_inline

_BLANK_LINES = re.compile(r"\n[ \t\u00a0]*\n")
_BULLET = re.compile(r"^\s*(?:[-*•–]|\d{1,3}[.)])\s+")


def text_to_paragraphs(text: str) -> list[str]:
    """Lines of one paragraph are joined; a line like 'References' ends the article."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs: list[str] = []
    for block in _BLANK_LINES.split(text):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        if is_end_section(lines[0]):
            break
        if any(_BULLET.match(line) for line in lines):
            items: list[str] = []
            for line in lines:
                if _BULLET.match(line) or not items:
                    items.append(_BULLET.sub("", line))
                else:
                    items[-1] += " " + line  # a wrapped bullet line
            candidates = items
        else:
            candidates = [" ".join(lines)]
        paragraphs.extend(cleaned for cleaned in map(clean_inline, candidates) if cleaned)
    return paragraphs
