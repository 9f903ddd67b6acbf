"""Property tests over the cleaner with arbitrary Unicode: no crash, nothing dropped leaks through."""

from __future__ import annotations

import html
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docent.text.html import html_to_paragraphs, is_end_section
from docent.text.normalize import _INVISIBLE as INVISIBLE
from docent.text.plain import text_to_paragraphs

DROPPED = "zqxdroppedxqz"  # planted in every element the cleaner must remove
KEPT = "zqxkeptxqz"  # planted in a paragraph that must survive
PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Each wrapper is an element (or section) whose whole content must disappear; {} is escaped text.
DROPPED_WRAPPERS = [
    "<table class='infobox'><tr><th>Born</th><td>{}</td></tr></table>",
    "<div role='navigation' class='navbox'><ul><li>{}</li></ul></div>",
    "<div role='note' class='hatnote'>{}</div>",
    "<figure><img alt='x'><figcaption>{}</figcaption></figure>",
    "<table class='wikitable'><tr><td><p>{}</p></td></tr></table>",
    "<p>Text<sup class='reference'><a href='#cite_note-1'>[{}]</a></sup></p>",
    "<p>Title<span class='mw-editsection'>[<a href='?action=edit'>{}</a>]</span></p>",
    "<p style='display: none'>{}</p>",
    "<div class='shortdescription'>{}</div>",
    "<ol class='references'><li>{}</li></ol>",
    "<!-- {} -->",
]
RAW_WRAPPERS = ["<script>{}</script>", "<style>{}</style>"]  # raw text elements: no escaping applies
END_HEADINGS = ["See also", "References", "External links", "Notes", "Further reading"]

unicode_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@st.composite
def wikipedia_like(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            parts.append(f"<p>{html.escape(draw(unicode_text))}</p>")
        else:
            wrapper = draw(st.sampled_from(DROPPED_WRAPPERS))
            parts.append(wrapper.format(html.escape(draw(unicode_text)).replace("--", "- -") + f" {DROPPED} "))
    raw = draw(st.sampled_from(RAW_WRAPPERS))
    raw_text = draw(unicode_text).replace("<", " ")
    parts.insert(draw(st.integers(0, len(parts))), raw.format(f"{raw_text} {DROPPED}"))
    parts.insert(draw(st.integers(0, len(parts))), f"<p>{html.escape(draw(unicode_text))} {KEPT} </p>")
    heading = draw(st.sampled_from(END_HEADINGS))
    tail = f"<ul><li>{html.escape(draw(unicode_text))} {DROPPED}</li></ul><p>{DROPPED}</p>"
    body = "".join(parts) + f"<div class='mw-heading'><h2>{heading}</h2></div>" + tail
    return f"<html><body><div class='mw-parser-output'>{body}</div></body></html>"


def assert_clean(paragraphs: list[str]) -> None:
    for paragraph in paragraphs:
        assert paragraph and paragraph == " ".join(paragraph.split())  # trimmed, single spaces
        assert unicodedata.is_normalized("NFC", paragraph)
        assert not any(unicodedata.category(ch) == "Cc" for ch in paragraph)


@PROPERTY_SETTINGS
@given(wikipedia_like())
def test_dropped_elements_never_leak(page: str) -> None:
    paragraphs = html_to_paragraphs(page)
    text = "\n".join(paragraphs)
    assert DROPPED not in text
    assert KEPT in text  # the planted paragraph did survive, so the check above is not vacuous
    assert_clean(paragraphs)


@PROPERTY_SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_markup_never_crashes(text: str) -> None:
    assert_clean(html_to_paragraphs(text))
    assert_clean(html_to_paragraphs(f"<p>{text}</p><table><td>{text}</td></table>"))
    assert_clean(text_to_paragraphs(text))


@PROPERTY_SETTINGS
@given(st.lists(unicode_text, min_size=1, max_size=5))
def test_text_keeps_every_letter_of_plain_prose(words: list[str]) -> None:
    # Plain text without brackets: no letter is removed (only whitespace, control characters,
    # bullets and list numbers), unless a line is an end-matter heading such as "References".
    text = "\n\n".join(w.replace("[", "(").replace("]", ")") for w in words)
    paragraphs = text_to_paragraphs(text)
    assert_clean(paragraphs)
    letters = [ch for ch in unicodedata.normalize("NFC", "".join(paragraphs)) if ch.isalpha()]
    expected = [ch for ch in unicodedata.normalize("NFC", text) if ch.isalpha()]
    if not any(is_end_section(line) for line in text.splitlines()):
        assert letters == expected


@PROPERTY_SETTINGS
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=60),  # the HTML parser owns those
       st.sampled_from(["<main>{}</main>", "<div class='mw-parser-output'>{}</div>",
                        "<div class='body' role='main'><span class='pre'></span>{}</div>"]))
def test_inline_code_survives_verbatim_on_every_kind_of_page(code: str, wrapper: str) -> None:
    # Only whitespace is normalized inside <code>: no bracket is taken for a citation marker, no
    # punctuation is tidied, whatever the page kind.
    page = wrapper.format(f"<p>Run <code>{html.escape(code)}</code> now.</p>")
    [paragraph] = html_to_paragraphs(page)
    expected = " ".join(unicodedata.normalize("NFC", code).translate(INVISIBLE).split())
    assert " ".join(f"Run {expected} now.".split()) == paragraph
