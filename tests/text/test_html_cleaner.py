"""The cleaner on Wikipedia-shaped HTML: only article prose survives, diacritics intact."""

from __future__ import annotations

import unicodedata

from docent.text.html import html_to_paragraphs
from docent.text.normalize import clean_inline, strip_citation_markers
from docent.text.plain import text_to_paragraphs

EDIT = ("<span class='mw-editsection'><span class='mw-editsection-bracket'>[</span>"
        "<a href='/w/index.php?title=X&amp;action=edit&amp;section=1'>edit</a>"
        "<span class='mw-editsection-bracket'>]</span></span>")
# "Hồ" written with combining marks (o + circumflex + grave): NFC must compose it.
DECOMPOSED_HO = "Ho\u0302\u0300"

WIKI_PAGE = f"""<!DOCTYPE html><html><head><title>Võ Nguyên Giáp - Wikipedia</title>
<script>var LEAK_SCRIPT = 1;</script><style>.LEAK_STYLE {{ color: red }}</style></head>
<body><div id="mw-navigation"><a href="/wiki/Main_Page">LEAK_MENU</a></div>
<h1 id="firstHeading">Võ Nguyên Giáp</h1>
<div id="mw-content-text"><div class="mw-parser-output">
<div class="shortdescription nomobile noexcerpt noprint searchaux" style="display:none">LEAK_SHORTDESC general</div>
<div role="note" class="hatnote navigation-not-searchable">For the street, see LEAK_HATNOTE.</div>
<table class="infobox vcard"><tbody><tr><th>Born</th><td>LEAK_INFOBOX 25 August 1911</td></tr></tbody></table>
<p><b>Võ Nguyên Giáp</b> (<span class="rt-commentedText nowrap"><span class="IPA">[LEAK_IPA]</span></span>;
25 August 1911 – 4 October 2013) was a Vietnamese general and politician.<sup id="cite_ref-1"
class="reference"><a href="#cite_note-1">[1]</a></sup> He served under {DECOMPOSED_HO} Chí Minh and led the
Việt Minh to victory at Điện Biên Phủ in 1954.<sup class="noprint Inline-Template Template-Fact">[<i><a
href="/wiki/Wikipedia:Citation_needed" title="Wikipedia:Citation needed"><span>citation needed</span></a></i>]</sup></p>
<figure typeof="mw:File/Thumb"><a href="/wiki/File:Giap.jpg"><img src="giap.jpg" alt="LEAK_ALT"></a>
<figcaption>LEAK_FIGCAPTION Giáp in 1954</figcaption></figure>
<div class="thumb tright"><div class="thumbinner"><div class="thumbcaption">LEAK_THUMB caption</div></div></div>
<div class="mw-heading mw-heading2"><h2 id="Early_life">Early life</h2>{EDIT}</div>
<p>Giáp was born in An Xá, Quảng Bình province.[2][3] His father was a scholar.[a] The area covers
3,358&nbsp;km<sup>2</sup>.</p>
<!-- LEAK_COMMENT -->
<ul><li>He studied law at the University of Hanoi.<ul><li>He taught history in Hanoi at Thăng Long.</li></ul></li>
<li>He joined the communists in the 1930s.[citation needed]</li></ul>
<table class="wikitable"><tr><td><p>LEAK_TABLE casualties</p></td></tr></table>
<div role="navigation" class="navbox"><table><tr><td><ul><li>LEAK_NAVBOX_INLINE Vietnam War</li></ul></td></tr>
</table></div>
<div class="mw-heading mw-heading2"><h2 id="See_also">See also</h2>{EDIT}</div>
<ul><li><a href="/wiki/Ho_Chi_Minh">LEAK_SEE_ALSO Hồ Chí Minh</a></li></ul>
<div class="mw-heading mw-heading2"><h2 id="References">References</h2>{EDIT}</div>
<div class="reflist"><ol class="references"><li id="cite_note-1">LEAK_REFERENCE Currey (2005).</li></ol></div>
<p>LEAK_AFTER_END paragraph after the end matter.</p>
<div role="navigation" class="navbox"><p>LEAK_NAVBOX_END</p></div>
</div></div>
<div id="catlinks" class="catlinks">LEAK_CATEGORIES</div></body></html>"""


def test_wikipedia_page_keeps_only_article_prose() -> None:
    paragraphs = html_to_paragraphs(WIKI_PAGE)
    assert paragraphs == [
        "Võ Nguyên Giáp (25 August 1911 – 4 October 2013) was a Vietnamese general and politician. "
        "He served under Hồ Chí Minh and led the Việt Minh to victory at Điện Biên Phủ in 1954.",
        "Giáp was born in An Xá, Quảng Bình province. His father was a scholar. The area covers 3,358 km2.",
        "He studied law at the University of Hanoi.",
        "He taught history in Hanoi at Thăng Long.",
        "He joined the communists in the 1930s.",
    ]
    text = "\n".join(paragraphs)
    assert "LEAK" not in text
    assert unicodedata.is_normalized("NFC", text)
    assert "[" not in text and "edit" not in text


def test_old_style_headings_and_generic_html() -> None:
    html = ("<body><header>LEAK_HEADER</header><main><h2><span class='mw-headline'>History</span></h2>"
            "<p>Huế was the capital.</p><h3>Notes</h3><p>LEAK_NOTES a note.</p></main>"
            "<footer>LEAK_FOOTER</footer></body>")
    assert html_to_paragraphs(html) == ["Huế was the capital."]


def test_html_without_paragraphs_falls_back_to_lines() -> None:
    html = "<div>Champa was a kingdom.<br>It traded widely.</div><div>References</div><div>LEAK_REF</div>"
    assert html_to_paragraphs(html) == ["Champa was a kingdom.", "It traded widely."]


def test_citation_markers() -> None:
    text = ("In 1945.[1][23] He[a] said[note 3] so[citation needed] and[clarification needed] "
            "then[who?] left.[nb 2][iv] Later[dubious – discuss] [edit]")
    assert clean_inline(text) == "In 1945. He said so and then left. Later"
    # Square brackets that are not markers stay: a quotation's editorial insertion.
    assert strip_citation_markers("He said [the emperor] was wise.") == "He said [the emperor] was wise."


def test_plain_text_paragraphs_and_end_matter() -> None:
    text = ("Lê Lợi founded\nthe Later Lê dynasty.[1]\n\n- First item here.\n- Second item\n  wraps.\n\n"
            "See also\n\nLEAK_SEE_ALSO line\n")
    assert text_to_paragraphs(text) == [
        "Lê Lợi founded the Later Lê dynasty.", "First item here.", "Second item wraps.",
    ]


def test_whitespace_and_invisible_characters() -> None:
    assert clean_inline("Trần\u00a0Hưng\u200bĐạo\u00ad  led\tthe\r\ndefence\x07.") == "Trần HưngĐạo led the defence."
