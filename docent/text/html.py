"""Wikipedia-shaped (or any) HTML -> the article's paragraphs and list items, as plain text.

The page is parsed as data (BeautifulSoup over lxml: nothing runs, nothing is fetched). Whole
elements that are not prose are removed first (infoboxes, navboxes, tables, hatnotes, figures,
edit links, reference markers, scripts, hidden elements); then paragraphs and list items are
collected in document order until the first end-matter heading ("See also", "References"...).
"""

from __future__ import annotations

from bs4 import BeautifulSoup, CData, NavigableString, Tag

from docent.text.normalize import CITATION_MARKER, clean_inline, normalize_whitespace

# Elements never holding article prose.
DROP_TAGS = (
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math", "canvas",
    "video", "audio", "picture", "img", "map", "table", "figure", "figcaption", "caption", "nav",
    "header", "footer", "aside", "form", "button", "select", "textarea", "input", "label", "head",
    "title", "meta", "link", "pre", "dialog",
)
# MediaWiki's classes and roles for the same (and for pronunciation keys, coordinates, TOC...).
DROP_SELECTORS = (
    ".infobox", ".navbox", ".vertical-navbox", ".navbox-styles", ".sidebar", ".hatnote", ".dablink",
    ".rellink", ".mw-editsection", ".reference", ".reflist", ".references", ".mw-references-wrap",
    ".noprint", ".metadata", ".ambox", ".mbox-small", ".sistersitebox", ".side-box", ".portalbox",
    ".toc", "#toc", ".thumb", ".thumbcaption", ".gallery", ".mw-empty-elt", ".shortdescription",
    ".navigation-not-searchable", ".catlinks", ".printfooter", ".mw-jump-link", ".mw-cite-backlink",
    ".authority-control", ".succession-box", ".IPA", ".ext-phonos", ".haudio", ".geo", "#coordinates",
    ".mw-indicators", ".mw-kartographer-maplink", "[role=navigation]", "[role=note]", "[hidden]",
)
# A heading with one of these titles starts the end matter: it and everything after it go.
END_SECTIONS = frozenset({
    "see also", "references", "external links", "notes", "further reading", "bibliography",
    "sources", "citations", "footnotes", "notes and references", "references and notes",
    "works cited", "explanatory notes", "general and cited sources",
})
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
TEXT_BLOCKS = frozenset({"p", "li"})
# Blocks inside a paragraph or list item are collected on their own, not twice.
NESTED_BLOCKS = TEXT_BLOCKS | HEADINGS | {"ul", "ol", "dl", "blockquote"}
# Elements whose edges separate words even without whitespace in the source.
SPACED = frozenset({"br", "div", "section", "article", "dd", "dt", "td", "th", "tr", "hr"})


def is_end_section(heading_text: str) -> bool:
    return normalize_whitespace(heading_text).strip(" :").lower() in END_SECTIONS


def _is_hidden(tag: Tag) -> bool:
    style = str(tag.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


def _drop_non_prose(root: Tag) -> None:
    doomed: list[Tag] = list(root.find_all(list(DROP_TAGS)))
    doomed += root.select(", ".join(DROP_SELECTORS))
    doomed += [tag for tag in root.find_all(style=True) if _is_hidden(tag)]
    for sup in root.find_all("sup"):
        # Footnote superscripts ([1], [a], [citation needed]) are dropped; km² and 10⁶ stay.
        text = normalize_whitespace(sup.get_text())
        if CITATION_MARKER.fullmatch(text) or sup.find("a", href=lambda h: h and h.startswith("#cite")):
            doomed.append(sup)
    for tag in doomed:
        if not tag.decomposed:
            tag.decompose()


def _own_text(block: Tag) -> str:
    """The block's text without nested blocks (collected separately), with words kept apart."""
    parts: list[str] = []

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Tag):
                if child.name in NESTED_BLOCKS:
                    continue
                if child.name in SPACED:
                    parts.append(" ")
                walk(child)
                if child.name in SPACED:
                    parts.append(" ")
            elif type(child) in (NavigableString, CData):  # not comments, doctypes or processing instructions
                parts.append(str(child))

    walk(block)
    return "".join(parts)


def _fallback_lines(root: Tag) -> list[str]:
    """HTML without <p>/<li> (text straight in <div>s): its lines, up to an end-matter line."""
    lines = []
    for line in root.get_text("\n").split("\n"):
        if is_end_section(line):
            break
        lines.append(line)
    return lines


def html_to_paragraphs(html: str) -> list[str]:
    """The article's paragraphs and list items, cleaned, in document order; end matter excluded."""
    soup = BeautifulSoup(html, "lxml")
    root: Tag = soup.select_one(".mw-parser-output") or soup.find("main") or soup.find("article") or soup.body or soup
    _drop_non_prose(root)
    raw: list[str] = []
    found_blocks = False
    for tag in root.find_all(sorted(TEXT_BLOCKS | HEADINGS)):
        if tag.name in HEADINGS:
            if is_end_section(tag.get_text(" ")):
                break
            continue
        found_blocks = True
        raw.append(_own_text(tag))
    if not found_blocks:
        raw = _fallback_lines(root)
    paragraphs = (clean_inline(text) for text in raw)
    return [p for p in paragraphs if p]
