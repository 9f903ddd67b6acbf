"""Which program wrote an HTML page, detected once per page, and what that means for cleaning it.

MediaWiki's class names are its own (".reference" is a citation marker there and a cross-reference
link in Sphinx, ".sidebar" an infobox there and a content sidebar in Sphinx), so each kind gets its
own content root and its own selectors for chrome: navigation, sidebars, footers, previous/next
links, version banners, permalink markers. Pages from no known generator ("generic": hand-written
HTML, Markdown, PDF and Word documents converted by the files source) get only the selectors that
mean the same everywhere.
"""

from __future__ import annotations

from typing import Literal

from bs4 import BeautifulSoup, Tag

PageKind = Literal["mediawiki", "sphinx", "mkdocs", "docusaurus", "generic"]
PAGE_KINDS: tuple[PageKind, ...] = ("mediawiki", "sphinx", "mkdocs", "docusaurus", "generic")

# <meta name="generator"> prefixes (lower case), checked first.
_GENERATORS: tuple[tuple[str, PageKind], ...] = (
    ("mediawiki", "mediawiki"), ("docusaurus", "docusaurus"), ("mkdocs", "mkdocs"),
    ("sphinx", "sphinx"), ("docutils", "sphinx"),
)
# Structural markers when there is no generator tag (the wikipedia source keeps only the article div).
_MARKERS: tuple[tuple[PageKind, str], ...] = (
    ("mediawiki", ".mw-parser-output, #mw-content-text, .mw-body-content, .mw-headline"),
    ("docusaurus", "#__docusaurus, .theme-doc-markdown, [class*=docusaurus]"),
    ("mkdocs", ".md-content, .md-typeset, [data-md-component]"),
    ("sphinx", "#documentation_options, script[src$='documentation_options.js'], [data-content_root], "
               ".sphinxsidebar, .rst-content, .bd-article, code.docutils, span.pre"),
)

# Where the page's own text lives, most specific first.
ROOTS: dict[PageKind, tuple[str, ...]] = {
    "mediawiki": (".mw-parser-output", "main", "article", "body"),
    "sphinx": ("[itemprop=articleBody]", "div.body[role=main]", "[role=main]", "div.body", "article", "main", "body"),
    "mkdocs": (".md-content__inner", ".md-content", "[role=main]", "main", "article", "body"),
    "docusaurus": (".theme-doc-markdown", "article", "main", "body"),
    "generic": ("main", "article", "[role=main]", "body"),
}

# MediaWiki's classes and roles for infoboxes, navboxes, hatnotes, citation markers, pronunciation
# keys, coordinates, the TOC...: MediaWiki pages only.
MEDIAWIKI_DROP = (
    ".infobox", ".navbox", ".vertical-navbox", ".navbox-styles", ".sidebar", ".hatnote", ".dablink",
    ".rellink", ".mw-editsection", ".reference", ".reflist", ".references", ".mw-references-wrap",
    ".noprint", ".metadata", ".ambox", ".mbox-small", ".sistersitebox", ".side-box", ".portalbox",
    ".toc", "#toc", ".thumb", ".thumbcaption", ".gallery", ".mw-empty-elt", ".shortdescription",
    ".navigation-not-searchable", ".catlinks", ".printfooter", ".mw-jump-link", ".mw-cite-backlink",
    ".authority-control", ".succession-box", ".IPA", ".ext-phonos", ".haudio", ".geo", "#coordinates",
    ".mw-indicators", ".mw-kartographer-maplink", "[role=navigation]", "[role=note]", "[hidden]",
)
# Every other page: ARIA landmarks that are not content, hidden elements, permalink markers ("¶"),
# screen-reader-only labels.
COMMON_DROP = (
    "[role=navigation]", "[role=search]", "[role=banner]", "[role=contentinfo]", "[role=complementary]",
    "[hidden]", ".headerlink", ".anchor-link", ".sr-only", ".visually-hidden", ".skip-link",
)
# Sphinx themes (basic/classic, the Python docs theme, alabaster, Read the Docs, Furo, PyData).
SPHINX_DROP = (
    ".related", ".sphinxsidebar", ".footer", ".mobile-nav", ".menu-wrapper", "#searchbox",
    ".section-number", ".toctree-wrapper", ".contents", ".rst-versions", ".rst-footer-buttons",
    ".wy-nav-side", ".wy-breadcrumbs", ".related-pages", ".prev-next-area", ".prev-next-footer",
    ".bd-sidebar", ".bd-sidebar-primary", ".bd-sidebar-secondary", ".bd-header-announcement",
    ".bd-header-version-warning", ".version-switcher__container", ".version_switcher_placeholder",
    ".language_switcher_placeholder", ".announcement", "#outdated-warning", ".viewcode-link",
    ".viewcode-back", ".footnote-reference", ".footnote", ".footnote-list", ".citation",
    ".admonition-title", ".sidebar-drawer", ".toc-drawer", ".back-to-top", ".bottom-of-page",
    ".edit-this-page", ".copybtn",
)
# MkDocs (its own themes and Material).
MKDOCS_DROP = (
    ".md-header", ".md-tabs", ".md-sidebar", ".md-footer", ".md-source-file", ".md-content__button",
    ".md-banner", ".md-announce", ".md-version", ".md-skip", ".md-top", ".md-dialog", ".md-search",
    ".md-nav", ".md-tags", ".md-clipboard", ".md-feedback", ".footnote-ref", ".footnote", ".navbar",
    ".bs-sidebar", ".rst-versions", ".rst-footer-buttons", ".wy-nav-side", ".wy-breadcrumbs",
    ".admonition-title",
)
# Docusaurus (v2/v3 "theme-*" class names; CSS-module names only by their stable prefix).
DOCUSAURUS_DROP = (
    ".theme-doc-breadcrumbs", ".theme-doc-toc-mobile", ".theme-doc-toc-desktop", ".table-of-contents",
    ".pagination-nav", ".theme-doc-footer", ".theme-edit-this-page", ".theme-last-updated",
    ".theme-doc-version-banner", ".theme-doc-version-badge", ".theme-announcement-bar", ".hash-link",
    ".navbar", ".menu", ".theme-doc-sidebar-container", ".footer", "[class*=announcementBar]",
    "[class*=skipToContent]", "[class*=tocCollapsible]", "[class*=admonitionHeading]",
    "[data-footnote-ref]", "[data-footnotes]", ".footnotes",
)
DROP: dict[PageKind, tuple[str, ...]] = {
    "mediawiki": MEDIAWIKI_DROP,
    "sphinx": COMMON_DROP + SPHINX_DROP,
    "mkdocs": COMMON_DROP + MKDOCS_DROP,
    "docusaurus": COMMON_DROP + DOCUSAURUS_DROP,
    "generic": COMMON_DROP,
}


def detect_page_kind(soup: BeautifulSoup | Tag) -> PageKind:
    for meta in soup.select("meta[name=generator][content]"):
        content = str(meta["content"]).strip().lower()
        for prefix, kind in _GENERATORS:
            if content.startswith(prefix):
                return kind
    for kind, selector in _MARKERS:
        if soup.select_one(selector) is not None:
            return kind
    return "generic"


def content_root(soup: BeautifulSoup, kind: PageKind) -> Tag:
    for selector in ROOTS[kind]:
        found = soup.select_one(selector)
        if found is not None:
            return found
    return soup


def strips_citation_markers(kind: PageKind) -> bool:
    """Wikipedia writes "[1]" and "[citation needed]" into the text; generic pages (a PDF's "[12]")
    may too. Documentation generators mark footnotes up as elements, and a bracket in their prose is
    text ("a[len(a):] = [x]")."""
    return kind in ("mediawiki", "generic")


def end_matter_stops_page(kind: PageKind) -> bool:
    """On MediaWiki "See also"/"References" start the end matter: everything after goes. Elsewhere
    such a heading closes only its own section ("Notes" in a manual is followed by more manual)."""
    return kind == "mediawiki"
