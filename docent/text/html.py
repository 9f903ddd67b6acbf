"""Any HTML page -> its units (paragraphs, list items, definitions, code blocks) under their headings.

The page is parsed as data (BeautifulSoup over lxml: nothing runs, nothing is fetched). Its kind
(MediaWiki, Sphinx, MkDocs, Docusaurus or generic) is detected once and decides the content root
and which chrome is removed (docent.text.page_kind). Whole elements that are not prose go first
(scripts, tables, figures, navigation, sidebars, footers, footnote markers...); then the blocks are
collected in document order, each with the path of the headings above it:

- <p>, <li> (and a <dd> without a term): prose, with inline code, keyboard keys, variables and link
  text kept in the sentence;
- <dt> + <dd>: one definition unit, the term leading its description ("list.append(x): Add an item
  to the end of the list.");
- <pre>: a code block of its own, newlines kept, never part of a sentence.

An end-matter heading ("See also", "References"...) ends a MediaWiki article; on other pages it
closes only its own section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bs4 import BeautifulSoup, CData, NavigableString, Tag

from docent.text.code import code_language, code_text, unwrap_code_tables
from docent.text.normalize import CITATION_MARKER, clean_inline, normalize_unicode, normalize_whitespace
from docent.text.page_kind import (
    DROP,
    PageKind,
    content_root,
    detect_page_kind,
    end_matter_stops_page,
    strips_citation_markers,
)
from docent.text.units import SectionPath, Unit

# Elements never holding article prose (<pre> is not here: code blocks are units of their own).
DROP_TAGS = (
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math", "canvas",
    "video", "audio", "picture", "img", "map", "table", "figure", "figcaption", "caption", "nav",
    "header", "footer", "aside", "form", "button", "select", "textarea", "input", "label", "head",
    "title", "meta", "link", "dialog",
)
# A heading with one of these titles starts the end matter.
END_SECTIONS = frozenset({
    "see also", "references", "external links", "notes", "further reading", "bibliography",
    "sources", "citations", "footnotes", "notes and references", "references and notes",
    "works cited", "explanatory notes", "general and cited sources",
})
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
TEXT_BLOCKS = frozenset({"p", "li"})
# Blocks inside a paragraph or list item are collected on their own, not twice.
NESTED_BLOCKS = TEXT_BLOCKS | HEADINGS | {"ul", "ol", "dl", "dt", "dd", "blockquote", "pre"}
UNIT_TAGS = sorted(TEXT_BLOCKS | HEADINGS | {"dt", "dd", "pre"})
# Elements whose edges separate words even without whitespace in the source.
SPACED = frozenset({"br", "div", "section", "article", "dd", "dt", "td", "th", "tr", "hr"})
# Inline code, keyboard input, variables, sample output: text of the sentence, shielded from the
# clean-up meant for prose ("a[len(a):] = [x]" is not a citation marker).
INLINE_CODE = frozenset({"code", "kbd", "var", "samp", "tt"})
# Between a <dd> and a paragraph of its description there is no list, quote or nested definition.
_NOT_DESCRIPTION = frozenset({"li", "ul", "ol", "dl", "blockquote", "table"})
_SLOT_OPEN, _SLOT_CLOSE = "\ue000", "\ue001"  # private-use characters: inline code placeholders
_SLOT = re.compile(f"{_SLOT_OPEN}(\\d+){_SLOT_CLOSE}")


@dataclass(frozen=True)
class HtmlDocument:
    kind: PageKind
    units: list[Unit]


def is_end_section(heading_text: str) -> bool:
    return normalize_whitespace(heading_text).strip(" :").lower() in END_SECTIONS


def _is_hidden(tag: Tag) -> bool:
    style = str(tag.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


def _drop_non_prose(root: Tag, kind: PageKind) -> None:
    doomed: list[Tag] = []
    for tag in root.find_all(list(DROP_TAGS)):
        # An article's own <header> (Docusaurus puts the page's <h1> in one) is kept.
        if tag.name == "header" and kind != "mediawiki" and tag.find(sorted(HEADINGS)) is not None:
            continue
        doomed.append(tag)
    doomed += root.select(", ".join(DROP[kind]))
    doomed += [tag for tag in root.find_all(style=True) if _is_hidden(tag)]
    for sup in root.find_all("sup"):
        # Footnote superscripts ([1], [a], [citation needed]) are dropped; km² and 10⁶ stay.
        text = normalize_whitespace(sup.get_text())
        if CITATION_MARKER.fullmatch(text) or sup.find("a", href=lambda h: h and h.startswith("#cite")):
            doomed.append(sup)
    for tag in doomed:
        if not tag.decomposed:
            tag.decompose()


class _Extractor:
    def __init__(self, kind: PageKind) -> None:
        self.kind = kind
        self.markers = strips_citation_markers(kind)

    def inline_text(self, block: Tag, *, skip_nested: bool = True) -> str:
        """The block's own text as one clean line: nested blocks left out (collected separately),
        words kept apart at element edges, inline code verbatim but for whitespace."""
        parts: list[str] = []
        codes: list[str] = []

        def walk(node: Tag) -> None:
            for child in node.children:
                if isinstance(child, Tag):
                    if skip_nested and child.name in NESTED_BLOCKS:
                        continue
                    if child.name in INLINE_CODE:
                        codes.append(normalize_whitespace(normalize_unicode(child.get_text())))
                        parts.append(f"{_SLOT_OPEN}{len(codes) - 1}{_SLOT_CLOSE}")
                        continue
                    if child.name in SPACED:
                        parts.append(" ")
                    walk(child)
                    if child.name in SPACED:
                        parts.append(" ")
                elif type(child) in (NavigableString, CData):  # not comments, doctypes or processing instructions
                    parts.append(str(child).replace(_SLOT_OPEN, " ").replace(_SLOT_CLOSE, " "))

        walk(block)
        text = clean_inline("".join(parts), markers=self.markers)
        if codes:
            text = normalize_whitespace(_SLOT.sub(lambda m: codes[int(m.group(1))], text))
        return text

    def description(self, dd: Tag, consumed: set[int]) -> list[str]:
        """A <dd>'s own text and the paragraphs of its description (not those in its lists or
        nested definitions, which are units of their own)."""
        texts = [self.inline_text(dd)]
        for p in dd.find_all("p"):
            between = p.parent
            while between is not None and between is not dd and between.name not in _NOT_DESCRIPTION:
                between = between.parent
            if between is dd:
                consumed.add(id(p))
                texts.append(self.inline_text(p))
        return [t for t in texts if t]


def _term_group(dt: Tag) -> tuple[list[Tag], list[Tag]]:
    """The <dt>s that start at `dt` and the <dd>s that follow them (one item of the list)."""
    terms: list[Tag] = [dt]
    descriptions: list[Tag] = []
    sibling = dt.next_sibling
    while sibling is not None:
        if isinstance(sibling, Tag):
            if sibling.name == "dt" and not descriptions:
                terms.append(sibling)
            elif sibling.name == "dd":
                descriptions.append(sibling)
            else:
                break
        elif str(sibling).strip():
            break
        sibling = sibling.next_sibling
    return terms, descriptions


def _sphinx_signature(dt: Tag, max_chars: int | None) -> None:
    """A Sphinx API signature as a definition's term. A method documented inside its class reads
    "create(env_dir)"; its id says whose it is ("venv.EnvBuilder.create"), so the term becomes
    "venv.EnvBuilder.create(env_dir)". A signature longer than `max_chars` (clean.max_signature_chars)
    loses its parameters, "json.dump(...)", since it leads every sentence of its description."""
    name = dt.find(class_="sig-name")
    anchor = str(dt.get("id") or "")
    if name is not None and dt.find(class_="sig-prename") is None and "." in anchor:
        owner, _, own_name = anchor.rpartition(".")
        if own_name == name.get_text().strip():
            name.insert_before(NavigableString(f"{owner}."))
    parens = dt.find_all(class_="sig-paren")
    if max_chars is None or len(parens) < 2 or len(normalize_whitespace(dt.get_text())) <= max_chars:
        return
    between = []
    node = parens[0].next_sibling
    while node is not None and node is not parens[1]:
        between.append(node)
        node = node.next_sibling
    if node is parens[1] and between:
        for item in between:
            item.extract()
        parens[0].insert_after(NavigableString("..."))


def _fallback_lines(root: Tag) -> list[str]:
    """HTML without <p>/<li> (text straight in <div>s): its lines, up to an end-matter line."""
    lines = []
    for line in root.get_text("\n").split("\n"):
        if is_end_section(line):
            break
        lines.append(line)
    return lines


def html_to_units(html: str, max_signature_chars: int | None = None) -> HtmlDocument:
    """The page's units in document order, each carrying its section path; end matter excluded.

    `max_signature_chars` (clean.max_signature_chars): Sphinx API signatures longer than this lose
    their parameters in the definition's term; None keeps them whole."""
    soup = BeautifulSoup(html, "lxml")
    kind = detect_page_kind(soup)
    root = content_root(soup, kind)
    unwrap_code_tables(root)
    _drop_non_prose(root, kind)
    extractor = _Extractor(kind)
    sections = SectionPath()
    units: list[Unit] = []
    consumed: set[int] = set()
    skip_below: int | None = None  # inside an end-matter section of this heading level
    found_blocks = False
    for tag in root.find_all(UNIT_TAGS):
        if id(tag) in consumed or tag.find_parent("pre") is not None:
            continue
        if tag.name in HEADINGS:
            level = int(tag.name[1])
            title = extractor.inline_text(tag, skip_nested=False)
            if skip_below is not None and level > skip_below:
                continue
            skip_below = None
            if is_end_section(title):
                if end_matter_stops_page(kind):
                    break
                skip_below = level
                continue
            sections.enter(level, title)
            continue
        if skip_below is not None:
            continue
        section = str(sections)
        if tag.name == "pre":
            text = code_text(tag)
            if text.strip():
                units.append(Unit("code", text, section, language=code_language(tag)))
            continue
        found_blocks = True
        if tag.name == "dt":
            terms, dds = _term_group(tag)
            if kind == "sphinx":
                for dt in terms:
                    _sphinx_signature(dt, max_signature_chars)
            consumed.update(id(t) for t in terms + dds)
            term = ", ".join(t for t in (extractor.inline_text(dt).rstrip(" :") for dt in terms) if t)
            described = [text for dd in dds for text in extractor.description(dd, consumed)]
            if term and described:
                # one unit; its paragraphs stay apart ("Changed in version 3.4: ..." ends without a period)
                units.append(Unit("definition", "\n".join(described), section, term=term))
            elif described:
                units += [Unit("prose", text, section) for text in described]
            continue
        text = extractor.inline_text(tag)
        if text:
            units.append(Unit("prose", text, section))
    if not found_blocks:
        for pre in root.find_all("pre"):
            pre.decompose()  # already a code unit
        lines = (clean_inline(line, markers=extractor.markers) for line in _fallback_lines(root))
        units += [Unit("prose", line) for line in lines if line]
    return HtmlDocument(kind, units)


def html_to_paragraphs(html: str) -> list[str]:
    """The page's prose (paragraphs, list items, definitions as "term: description"), in order."""
    return [unit.paragraph for unit in html_to_units(html).units if unit.kind != "code"]
