"""What the extractors hand to the cleaner: units of a page in document order, each under its headings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SECTION_SEPARATOR = " > "


@dataclass(frozen=True)
class Unit:
    """One block of a page.

    prose: a paragraph or list item, split into sentences by the cleaner.
    definition: a definition-list item; `term` is the <dt> ("list.append(x)"), `text` its description
        (its paragraphs one per line), and every sentence of it is kept as "term: sentence".
    code: a code block (<pre>, fenced Markdown code), newlines kept, never split into sentences.
    """

    kind: Literal["prose", "definition", "code"]
    text: str
    section: str = ""  # the heading path, "Virtual Environments > Creating Virtual Environments"
    term: str = ""  # definition only
    language: str = ""  # code only, when the page names it ("python3", "bash"); "" when unknown

    @property
    def paragraph(self) -> str:
        """The unit as one line of prose: a definition reads "term: description"."""
        if self.kind == "definition":
            return f"{self.term}: " + " ".join(self.text.split("\n"))
        return self.text


class SectionPath:
    """The headings above the current point of a page, one per level."""

    def __init__(self) -> None:
        self._levels: dict[int, str] = {}

    def enter(self, level: int, title: str) -> None:
        """A heading of `level` (1-6) replaces that level and closes every deeper one."""
        self._levels = {lv: t for lv, t in self._levels.items() if lv < level}
        if title:
            self._levels[level] = title

    def __str__(self) -> str:
        return SECTION_SEPARATOR.join(self._levels[lv] for lv in sorted(self._levels))
