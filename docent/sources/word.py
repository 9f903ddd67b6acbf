"""Word documents (.docx) -> simple HTML for the cleaner, through python-docx.

The body is read in order: paragraphs in heading styles ("Title", "Heading 1".., or any style with
an outline level) become headings, list paragraphs (list styles or numbering) list items,
paragraphs in a code style or set entirely in a monospace font one code block per run of them,
everything else paragraphs. A table of contents (its field or "TOC n" paragraphs) is navigation and
left out, and so are tables, as in HTML. Headers, footers and footnotes are not part of the body.
"""

from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path
from typing import Any

from docent.sources.base import Converted, UnusableDocument

# A .docx is a zip; more uncompressed content than this many times scrape.max_file_bytes is refused
# before parsing (a zip bomb, not a document).
MAX_EXPANSION = 20
_HEADING_STYLE = re.compile(r"^heading (\d)$", re.IGNORECASE)
_TOC_STYLE = re.compile(r"^(?:toc \d|toc heading|table of figures)$", re.IGNORECASE)
CODE_STYLES = frozenset({"macro text", "macro", "html preformatted", "code", "source code", "plain text",
                         "preformatted text", "code block", "verbatim"})
MONOSPACE_FONTS = frozenset({"courier", "courier new", "consolas", "menlo", "monaco", "lucida console",
                             "source code pro", "dejavu sans mono", "liberation mono", "cascadia code",
                             "cascadia mono", "fira code", "fira mono", "roboto mono", "jetbrains mono"})
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _style_chain(style: Any) -> list[Any]:
    chain: list[Any] = []
    while style is not None and len(chain) < 20:  # base styles can be circular in a broken file
        chain.append(style)
        style = style.base_style
    return chain


def _outline_level(element: Any) -> int | None:
    values = element.xpath("./w:pPr/w:outlineLvl/@w:val")
    if values and str(values[0]).isdigit() and int(values[0]) < 9:  # 9 is "body text"
        return int(values[0]) + 1
    return None


def _paragraph_role(paragraph: Any) -> tuple[str, int]:
    """('title' | 'heading' | 'toc' | 'item' | 'code' | 'text', heading level)."""
    chain = _style_chain(paragraph.style)
    names = [str(style.name or "").strip() for style in chain]
    for name in names:
        if _TOC_STYLE.match(name):
            return "toc", 0
        if name.lower() == "title":
            return "title", 1
        match = _HEADING_STYLE.match(name)
        if match:
            return "heading", int(match.group(1))
    level = _outline_level(paragraph._p)
    for style in chain:
        level = level or _outline_level(style.element)
    if level:
        return "heading", level
    if any(name.lower() in CODE_STYLES for name in names) or _monospace(paragraph, chain):
        return "code", 0
    if paragraph._p.xpath("./w:pPr/w:numPr") or any("list" in name.lower() for name in names):
        return "item", 0
    return "text", 0


def _monospace(paragraph: Any, chain: list[Any]) -> bool:
    style_font = next((str(s.font.name).lower() for s in chain if s.font is not None and s.font.name), "")
    runs = [run for run in paragraph.runs if run.text.strip()]
    if not runs:
        return False
    return all(str(run.font.name or style_font).lower() in MONOSPACE_FONTS for run in runs)


def _body_paragraphs(document: Any) -> list[Any]:
    """The body's paragraphs in order, inside content controls too, but not in a table of contents."""
    from docx.text.paragraph import Paragraph

    found: list[Any] = []

    def walk(element: Any) -> None:
        for child in element.iterchildren():
            if child.tag == f"{_W}p":
                found.append(Paragraph(child, document))
            elif child.tag == f"{_W}sdt":
                gallery = child.xpath("./w:sdtPr/w:docPartObj/w:docPartGallery/@w:val")
                if gallery and "table of contents" in str(gallery[0]).lower():
                    continue
                for content in child.iterchildren(f"{_W}sdtContent"):
                    walk(content)
            # w:tbl (tables) and w:sectPr are not prose

    walk(document.element.body)
    return found


def read_docx(path: Path, max_bytes: int) -> Converted:
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnusableDocument("corrupt", f"not a zip archive: {exc}") from None
    if expanded > MAX_EXPANSION * max_bytes:
        raise UnusableDocument("too_large", f"{expanded} bytes uncompressed")
    import docx

    try:
        document = docx.Document(str(path))
        paragraphs = [(p, *_paragraph_role(p), p.text) for p in _body_paragraphs(document)]
        core_title = document.core_properties.title or ""
    except Exception as exc:  # python-docx / lxml raise many types on a damaged package
        raise UnusableDocument("corrupt", f"{type(exc).__name__}: {exc}") from None
    has_title = any(role == "title" for _, role, _, _ in paragraphs)
    blocks: list[str] = []
    items: list[str] = []
    code: list[str] = []
    title = " ".join(core_title.split())

    def close() -> None:
        if items:
            blocks.append("<ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in items) + "</ul>")
            items.clear()
        if code:
            blocks.append(f"<pre><code>{html.escape(chr(10).join(code))}</code></pre>")
            code.clear()

    for _, role, level, text in paragraphs:
        if role == "code":
            if items:
                close()
            code.append(text.replace("\t", "    "))
            continue
        line = " ".join(text.split())
        if not line or role == "toc":
            continue
        if role == "item":
            if code:
                close()
            items.append(line)
            continue
        close()
        if role in ("title", "heading"):
            # with a Title paragraph, "Heading 1" sits below it
            n = 1 if role == "title" else min(level + has_title, 6)
            blocks.append(f"<h{n}>{html.escape(line)}</h{n}>")
            if role == "title":
                title = title or line
        else:
            blocks.append(f"<p>{html.escape(line)}</p>")
    close()
    if not blocks:
        raise UnusableDocument("empty", "no text in the document body")
    return Converted(title=title, html="\n".join(blocks))
