"""Code blocks (<pre>, fenced Markdown code) as text: newlines and indentation kept, line numbers out."""

from __future__ import annotations

import re
import textwrap
import unicodedata

from bs4 import CData, NavigableString, Tag

# Line-number gutters of Pygments (Sphinx, MkDocs), highlight.js and Prism plugins.
LINE_NUMBER_SELECTORS = ".linenos, .linenodiv, .lineno, .line-numbers-rows, td.gutter"
_LANGUAGE_CLASS = re.compile(r"^(?:highlight|language|lang)-([\w+#.-]+)$")
# Pygments/Sphinx names for "no language in particular".
_NO_LANGUAGE = frozenset({"default", "none", "text", "plain", "plaintext", "nohighlight"})
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u2060\ufeff"), None)


def unwrap_code_tables(root: Tag) -> None:
    """Pygments' `linenos: table` puts the code in a table (which the cleaner drops): keep its code
    cell in the table's place, and remove every line-number gutter."""
    for table in root.select("table.highlighttable"):
        cell = table.select_one("td.code")
        if cell is None:
            table.decompose()
            continue
        cell.name = "div"
        table.replace_with(cell.extract())
    for gutter in root.select(LINE_NUMBER_SELECTORS):
        if not gutter.decomposed:
            gutter.decompose()


def code_text(pre: Tag) -> str:
    """The block's text: <br> as a line break, NFC, trailing spaces and common indentation removed."""
    parts: list[str] = []
    for node in pre.descendants:
        if isinstance(node, Tag):
            if node.name == "br":
                parts.append("\n")
        elif type(node) in (NavigableString, CData):
            parts.append(str(node))
    text = unicodedata.normalize("NFC", "".join(parts)).translate(_INVISIBLE)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # other control characters (a stray \x07) go; tabs and newlines are the code's own layout
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    lines = [line.rstrip() for line in text.split("\n")]
    return textwrap.dedent("\n".join(lines)).strip("\n")


def code_language(pre: Tag) -> str:
    """"python3" from Sphinx's div.highlight-python3, "bash" from <code class="language-bash">; "" if none."""
    candidates: list[Tag] = [pre]
    inner = pre.find("code")
    if isinstance(inner, Tag):
        candidates.insert(0, inner)
    candidates += list(pre.parents)[:3]
    for tag in candidates:
        for cls in tag.get("class") or []:
            match = _LANGUAGE_CLASS.match(str(cls))
            if match:
                language = match.group(1).lower()
                return "" if language in _NO_LANGUAGE else language
    return ""
