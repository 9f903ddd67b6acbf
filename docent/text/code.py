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


# A command's help listing, as argparse, click, getopt and man pages print it:
#   "  --without-pip         Skips installing or upgrading pip in the virtual"
#   "                        environment (pip is bootstrapped by default)"
#   "  -h, --help            show this help message and exit"
#   "  --system-site-packages"                 (a long option alone: its description on the next lines)
# An option line: indentation, one or more comma-separated option names (each with an optional
# metavar: "--prompt PROMPT", "--log=FILE"), then two or more spaces and the description.
_OPTION_NAME = r"-{1,2}[A-Za-z0-9][\w-]*(?:[ =](?:[A-Z][A-Z0-9_-]*|<[^<>\s]+>|\[[^\[\]\s]+\]))?"
_OPTION_LINE = re.compile(rf"^(?P<indent> *)(?P<names>{_OPTION_NAME}(?:, ?{_OPTION_NAME})*)(?: {{2,}}(?P<text>\S.*))?$")
_METAVAR = re.compile(r"[ =].*$")


def option_descriptions(code: str) -> list[tuple[str, str]]:
    """(option, description) for each option of a help listing in a code block: ("--without-pip",
    "Skips installing or upgrading pip in the virtual environment (pip is bootstrapped by default)").

    The option is its longest name without the metavar ("-h, --help" -> "--help"); the description
    is its text with the continuation lines (indented past the option) joined. A block with fewer
    than two described options is not a listing (a command line "pip install -r requirements.txt"
    is not an option's documentation), and gives nothing."""
    options: list[tuple[str, list[str]]] = []
    indent = -1  # the current option's indentation; a deeper line continues its description
    for line in code.split("\n"):
        match = _OPTION_LINE.match(line)
        if match:
            names = [_METAVAR.sub("", name.strip()) for name in match.group("names").split(",")]
            indent = len(match.group("indent"))
            options.append((max(names, key=len), [match.group("text")] if match.group("text") else []))
            continue
        depth = len(line) - len(line.lstrip(" "))
        if options and line.strip() and depth > indent >= 0:
            options[-1][1].append(line.strip())
        else:
            indent = -1  # a blank line or a heading ("optional arguments:") ends the description
    described = [(name, " ".join(lines)) for name, lines in options if lines]
    return described if len(described) >= 2 else []
