"""The cleaner on documentation pages: Sphinx, MkDocs (Material) and Docusaurus, in the shapes those
generators write. Inline code and link text stay in the sentence, definitions are one unit, code
blocks are units of their own, sentences carry their heading path, and the chrome (navigation,
sidebars, previous/next links, version banners, footers, permalink markers) is gone."""

from __future__ import annotations

from docent.config import CleanParams
from docent.text.clean import clean_pages
from docent.text.html import html_to_units

PARAMS = CleanParams(min_words=3, max_words=60, max_code_lines=40, max_signature_chars=40,
                     min_prose_share=0.55)

SPHINX_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8" />
<meta name="generator" content="Docutils 0.19: https://docutils.sourceforge.io/" />
<title>12. Virtual Environments and Packages &#8212; Python 3.11.2 documentation</title>
<script data-url_root="../" id="documentation_options" src="../_static/documentation_options.js"></script>
</head><body>
<div class="mobile-nav"><nav class="nav-content" role="navigation"><a href="/">LEAK_MOBILE_NAV logo</a></nav></div>
<div class="related" role="navigation" aria-label="related navigation"><h3>Navigation</h3><ul>
<li class="right"><a href="whatnow.html" accesskey="N">LEAK_NEXT next</a> |</li>
<li><a href="stdlib2.html">LEAK_PREVIOUS previous</a></li></ul></div>
<div class="document"><div class="documentwrapper"><div class="bodywrapper"><div class="body" role="main">
<div id="outdated-warning">LEAK_BANNER This document is for an old version of Python.</div>
<section id="virtual-environments-and-packages">
<h1><span class="section-number">12. </span>Virtual Environments<a class="headerlink" href="#v"
title="Permalink">¶</a></h1>
<p>The <a class="reference internal" href="../library/winreg.html#module-winreg" title="winreg"><code class="xref py
py-mod docutils literal notranslate"><span class="pre">winreg</span></code></a> module is only provided on Windows
systems.<a class="footnote-reference brackets" href="#f1" id="id1">1</a> Read the
<a class="reference internal" href="../glossary.html#term-virtual-environment"><span class="xref std std-term">virtual
environment</span></a> entry of the glossary.</p>
<p>Press <kbd class="kbd docutils literal notranslate">Ctrl</kbd>+<kbd class="kbd docutils literal notranslate">D</kbd>
to leave, or call <code class="docutils literal notranslate"><span class="pre">exit()</span></code> with
<var>n</var> set.</p>
<section id="creating"><h2><span class="section-number">12.2. </span>Creating Virtual Environments<a
class="headerlink" href="#creating">¶</a></h2>
<p>To create a virtual environment, run the <a class="reference internal" href="venv.html"><code class="xref py py-mod
docutils literal notranslate"><span class="pre">venv</span></code></a> module as a script with the directory path:</p>
<div class="highlight-bash notranslate"><div class="highlight"><pre><span></span>python3<span class="w"> </span>-m<span
class="w"> </span>venv<span class="w"> </span>tutorial-env
</pre></div></div>
<div class="admonition note"><p class="admonition-title">Note</p><p>Activate it with the script in its
<code class="docutils literal notranslate"><span class="pre">bin</span></code> directory.</p></div>
<table class="highlighttable"><tr><td class="linenos"><div class="linenodiv"><pre>1
2</pre></div></td><td class="code"><div class="highlight-python3 notranslate"><div class="highlight"><pre>import venv
venv.create("env")</pre></div></div></td></tr></table>
</section>
<section id="lists"><h2><span class="section-number">12.3. </span>More on Lists<a class="headerlink"
href="#l">¶</a></h2>
<dl class="py method"><dt class="sig sig-object py" id="list.append"><span class="sig-prename descclassname"><span
class="pre">list.</span></span><span class="sig-name descname"><span class="pre">append</span></span><span
class="sig-paren">(</span><em class="sig-param"><span class="n"><span class="pre">x</span></span></em><span
class="sig-paren">)</span><a class="headerlink" href="#list.append" title="Permalink to this definition">¶</a></dt>
<dd><p>Add an item to the end of the list. Equivalent to <code class="docutils literal notranslate"><span
class="pre">a[len(a):]</span> <span class="pre">=</span> <span class="pre">[x]</span></code>.</p></dd></dl>
<dl class="py class"><dt class="sig sig-object py" id="venv.EnvBuilder"><em class="property"><span
class="pre">class</span> </em><span class="sig-prename descclassname"><span class="pre">venv.</span></span><span
class="sig-name descname"><span class="pre">EnvBuilder</span></span><span class="sig-paren">(</span><em
class="sig-param"><span class="pre">clear=False</span></em><span class="sig-paren">)</span><a class="viewcode-link"
href="_modules/venv.html"><span class="viewcode-link">[source]</span></a></dt>
<dd><p>Builds environments.</p><div class="versionchanged"><p><span class="versionmodified changed">Changed in version
3.4: </span>Added the <code class="docutils literal notranslate"><span class="pre">with_pip</span></code> parameter</p>
</div><dl class="py method"><dt class="sig sig-object py" id="venv.EnvBuilder.create"><span class="sig-name
descname"><span class="pre">create</span></span><span class="sig-paren">(</span><em class="sig-param"><span
class="pre">env_dir</span></em><span class="sig-paren">)</span></dt><dd><p>Create a virtual environment in the
target directory.</p></dd></dl></dd></dl>
<dl class="glossary simple"><dt id="term-venv">virtual environment<a class="headerlink" href="#term-venv">¶</a></dt>
<dd><p>A cooperatively isolated runtime environment.</p></dd></dl>
</section>
<section id="notes"><h2>Notes</h2><p>LEAK_NOTES_SECTION a note that ends its own section only.</p></section>
<section id="after"><h2>Managing Packages</h2><p>You can install packages using a program called pip.</p></section>
<aside class="footnote-list brackets"><aside class="footnote brackets" id="f1"><span class="label">1</span>
<p>LEAK_FOOTNOTE text of the footnote.</p></aside></aside>
</section></div></div></div>
<div class="sphinxsidebar" role="navigation"><div class="sphinxsidebarwrapper"><h4>Previous topic</h4>
<p class="topless"><a href="stdlib2.html">LEAK_SIDEBAR Brief Tour of the Standard Library</a></p></div></div>
<div class="clearer"></div></div>
<div class="footer">&copy; LEAK_FOOTER Copyright 2001-2023, Python Software Foundation.</div>
</body></html>"""

MKDOCS_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="generator" content="mkdocs-1.6.0, mkdocs-material-9.5.2"><title>Configuration - Example Docs</title></head>
<body dir="ltr"><div class="md-banner md-banner--warning"><div class="md-banner__inner">LEAK_BANNER You're not viewing
the latest version.</div></div>
<header class="md-header" data-md-component="header"><nav class="md-header__inner"><a href=".">LEAK_HEADER Example
Docs</a></nav></header>
<div class="md-container"><main class="md-main"><div class="md-main__inner md-grid">
<div class="md-sidebar md-sidebar--primary"><nav class="md-nav"><ul class="md-nav__list"><li class="md-nav__item">
<a href="../">LEAK_NAV Home</a></li></ul></nav></div>
<div class="md-content" data-md-component="content"><article class="md-content__inner md-typeset">
<a href="https://github.com/x/edit/main/docs/config.md" title="Edit this page"
class="md-content__button md-icon">LEAK_EDIT</a><h1 id="configuration">Configuration<a class="headerlink"
href="#configuration" title="Permanent link">&para;</a></h1>
<p>The settings live in <code>mkdocs.yml</code> at the root of the project.</p>
<div class="admonition note"><p class="admonition-title">Note</p><p>Keys are case sensitive in every section.</p></div>
<h2 id="options">Options<a class="headerlink" href="#options">&para;</a></h2>
<dl><dt><code>site_name</code></dt><dd><p>The main title of the documentation site.</p></dd></dl>
<div class="language-yaml highlight"><pre><span></span><code><span class="linenos"
data-linenos="1 "></span>site_name: Example
<span class="linenos" data-linenos="2 "></span>nav:
<span class="linenos" data-linenos="3 "></span>  - index.md
</code></pre></div>
<table><tr><td>LEAK_TABLE option</td></tr></table>
<aside class="md-source-file"><span class="md-source-file__fact">LEAK_LAST_UPDATE Last update: May 1,
2024</span></aside>
</article></div></div></main>
<footer class="md-footer"><nav class="md-footer__inner" aria-label="Footer"><a href="../" class="md-footer__link
md-footer__link--prev">LEAK_PREVIOUS Previous Home</a></nav><div class="md-footer-meta">LEAK_FOOTER Made with
Material for MkDocs</div></footer></div></body></html>"""

DOCUSAURUS_PAGE = """<!doctype html><html lang="en" class="plugin-docs"><head><meta charset="UTF-8">
<meta name="generator" content="Docusaurus v3.1.0"><title>Installation | Example</title></head><body>
<div id="__docusaurus"><div role="region" aria-label="Skip to main content"><a class="skipToContent_fXgn"
href="#__docusaurus_skipToContent_fallback">LEAK_SKIP Skip to main content</a></div>
<div class="announcementBar_mb4j" role="banner"><div class="content_knG7">LEAK_ANNOUNCEMENT Version 3 is
out!</div></div>
<nav aria-label="Main" class="navbar navbar--fixed-top"><a class="navbar__brand" href="/">LEAK_NAVBAR Example</a></nav>
<div class="main-wrapper"><div class="docsWrapper_hBAB"><div class="docRoot_UBD9">
<aside class="theme-doc-sidebar-container"><nav class="menu"><a class="menu__link" href="/docs/intro">LEAK_MENU
Intro</a></nav></aside>
<main class="docMainContainer_TBSr"><div class="container padding-top--md"><div class="row"><div class="col">
<div class="theme-doc-version-banner alert alert--warning margin-bottom--md" role="alert">LEAK_VERSION This is
unreleased documentation for Example Next.</div>
<div class="docItemContainer_c0TR"><article><nav class="theme-doc-breadcrumbs" aria-label="Breadcrumbs"><ul
class="breadcrumbs"><li class="breadcrumbs__item"><a href="/">LEAK_BREADCRUMB Home</a></li></ul></nav>
<div class="tocCollapsible_ETCw theme-doc-toc-mobile"><button type="button" class="clean-btn">LEAK_TOC On this
page</button></div>
<div class="theme-doc-markdown markdown"><header><h1>Installation</h1></header>
<p>Docusaurus is essentially a set of <a href="https://www.npmjs.com/">npm packages</a>.</p>
<h2 class="anchor anchorWithStickyNavbar_LWe7" id="requirements">Requirements<a href="#requirements"
class="hash-link" aria-label="Direct link to Requirements" title="Direct link to Requirements">&#8203;</a></h2>
<ul><li><a href="https://nodejs.org/en/download/">Node.js</a> version 18.0 or above, checked with <code>node -v</code>
in a terminal.</li></ul>
<p>Scaffold a new site with the classic template:</p>
<div class="language-bash codeBlockContainer_Ckt0 theme-code-block"><div class="codeBlockContent_biex"><pre
tabindex="0" class="prism-code language-bash codeBlock_bY9V thin-scrollbar"><code class="codeBlockLines_e6Vv"><span
class="token-line"><span class="token plain">npx create-docusaurus@latest my-website classic</span><br></span><span
class="token-line"><span class="token plain">cd my-website</span><br></span></code></pre><div class="buttonGroup__atx">
<button type="button" aria-label="Copy code to clipboard" class="clean-btn">LEAK_COPY</button></div></div></div>
</div>
<footer class="theme-doc-footer docusaurus-mt-lg"><div class="theme-edit-this-page"><a href="https://github.com/x">LEAK_EDIT
Edit this page</a></div><div class="theme-last-updated">LEAK_UPDATED Last updated on Jan 1, 2024</div></footer>
</article><nav class="pagination-nav docusaurus-mt-lg" aria-label="Docs pages"><a class="pagination-nav__link
pagination-nav__link--prev" href="/docs/intro"><div class="pagination-nav__label">LEAK_PREVIOUS Introduction</div>
</a></nav></div></div><div class="col col--3"><div class="tableOfContents_bqdL thin-scrollbar theme-doc-toc-desktop">
<ul class="table-of-contents"><li><a href="#requirements">LEAK_TOC_DESKTOP Requirements</a></li></ul></div></div>
</div></div></main></div></div></div>
<footer class="footer footer--dark"><div class="footer__copyright">LEAK_FOOTER Copyright © 2024 Example.</div></footer>
</div></body></html>"""


def clean(html: str) -> tuple[list[dict], list[dict], dict]:
    page = {"id": "files:page.html", "title": "Page", "format": "html", "content": html}
    return clean_pages([page], PARAMS)


def test_sphinx_page_keeps_code_links_definitions_and_sections() -> None:
    assert html_to_units(SPHINX_PAGE).kind == "sphinx"
    rows, code, metrics = clean(SPHINX_PAGE)

    assert [(r["section"], r["kind"], r["text"]) for r in rows] == [
        ("Virtual Environments", "sentence", "The winreg module is only provided on Windows systems."),
        ("Virtual Environments", "sentence", "Read the virtual environment entry of the glossary."),
        ("Virtual Environments", "sentence", "Press Ctrl+D to leave, or call exit() with n set."),
        ("Virtual Environments > Creating Virtual Environments", "sentence",
         "To create a virtual environment, run the venv module as a script with the directory path:"),
        ("Virtual Environments > Creating Virtual Environments", "sentence",
         "Activate it with the script in its bin directory."),
        ("Virtual Environments > More on Lists", "definition", "list.append(x): Add an item to the end of the list."),
        ("Virtual Environments > More on Lists", "definition", "list.append(x): Equivalent to a[len(a):] = [x]."),
        ("Virtual Environments > More on Lists", "definition",
         "class venv.EnvBuilder(clear=False): Builds environments."),
        ("Virtual Environments > More on Lists", "definition",
         "class venv.EnvBuilder(clear=False): Changed in version 3.4: Added the with_pip parameter"),
        ("Virtual Environments > More on Lists", "definition",
         "venv.EnvBuilder.create(env_dir): Create a virtual environment in the target directory."),
        ("Virtual Environments > More on Lists", "definition",
         "virtual environment: A cooperatively isolated runtime environment."),
        ("Virtual Environments > Managing Packages", "sentence",
         "You can install packages using a program called pip."),
    ]
    assert [(c["section"], c["language"], c["context"], c["text"]) for c in code] == [
        ("Virtual Environments > Creating Virtual Environments", "bash",
         "To create a virtual environment, run the venv module as a script with the directory path:",
         "python3 -m venv tutorial-env"),
        ("Virtual Environments > Creating Virtual Environments", "python3",  # the line numbers are gone
         "Activate it with the script in its bin directory.", 'import venv\nvenv.create("env")'),
    ]
    assert all(c["kind"] == "code" and c["code_id"].startswith("files:page.html#code") for c in code)
    text = " ".join(r["text"] for r in rows) + " ".join(c["text"] for c in code)
    assert "LEAK" not in text and "¶" not in text and "[source]" not in text and "12." not in text
    assert (metrics["pages_html_sphinx"], metrics["definitions"], metrics["sentences_from_definitions"]) == (1, 4, 6)
    assert metrics["sentences_with_section"] == len(rows)


def test_mkdocs_page() -> None:
    assert html_to_units(MKDOCS_PAGE).kind == "mkdocs"
    rows, code, _ = clean(MKDOCS_PAGE)
    assert [(r["section"], r["text"]) for r in rows] == [
        ("Configuration", "The settings live in mkdocs.yml at the root of the project."),
        ("Configuration", "Keys are case sensitive in every section."),
        ("Configuration > Options", "site_name: The main title of the documentation site."),
    ]
    assert [(c["section"], c["language"], c["text"]) for c in code] == [
        ("Configuration > Options", "yaml", "site_name: Example\nnav:\n  - index.md")]
    assert "LEAK" not in " ".join(r["text"] for r in rows)


def test_docusaurus_page() -> None:
    assert html_to_units(DOCUSAURUS_PAGE).kind == "docusaurus"
    rows, code, _ = clean(DOCUSAURUS_PAGE)
    assert [(r["section"], r["text"]) for r in rows] == [
        ("Installation", "Docusaurus is essentially a set of npm packages."),  # the h1 sits in the article's <header>
        ("Installation > Requirements", "Node.js version 18.0 or above, checked with node -v in a terminal."),
        ("Installation > Requirements", "Scaffold a new site with the classic template:"),
    ]
    assert [(c["language"], c["text"]) for c in code] == [
        ("bash", "npx create-docusaurus@latest my-website classic\ncd my-website")]
    assert "LEAK" not in " ".join(r["text"] for r in rows) + " ".join(c["text"] for c in code)


def test_mediawiki_selectors_only_on_mediawiki_pages() -> None:
    # The same markup means a citation marker on MediaWiki and a cross-reference in a manual.
    body = ("<p>The <a class='reference' href='#x'>winreg</a> module is only on Windows.<sup class='reference'>"
            "<a href='#cite_note-1'>[1]</a></sup></p><div class='sidebar'><p>A sidebar paragraph of the page.</p>"
            "</div>")
    wiki = html_to_units(f"<div class='mw-parser-output'>{body}</div>")
    manual = html_to_units(f"<html><body><main>{body}</main></body></html>")
    assert (wiki.kind, manual.kind) == ("mediawiki", "generic")
    assert [u.text for u in wiki.units] == ["The module is only on Windows."]
    assert [u.text for u in manual.units] == ["The winreg module is only on Windows.",
                                              "A sidebar paragraph of the page."]


def test_markdown_fenced_code_and_end_matter_closing_only_its_section() -> None:
    from docent.sources.files import markdown_to_html

    html = markdown_to_html("# Guide\n\nInstall it first.\n\n```python\nimport guide\n```\n\n## References\n\n"
                            "- A book.\n\n## Usage\n\nCall `guide.run([x])` to start.\n")
    units = html_to_units(html).units
    assert [(u.kind, u.section, u.language, u.text) for u in units] == [
        ("prose", "Guide", "", "Install it first."),
        ("code", "Guide", "python", "import guide"),
        ("prose", "Guide > Usage", "", "Call guide.run([x]) to start."),  # "[x]" is code, not a citation marker
    ]


def test_definition_list_without_paragraphs_and_lists_inside() -> None:
    html = ("<main><dl><dt>timeout:</dt><dd>Seconds to wait before giving up.<ul><li>Zero waits forever.</li></ul>"
            "</dd><dt>retries</dt><dt>tries</dt><dd><p>How often to try again.</p></dd></dl></main>")
    assert [(u.kind, u.term, u.text) for u in html_to_units(html).units] == [
        ("definition", "timeout", "Seconds to wait before giving up."),
        ("prose", "", "Zero waits forever."),
        ("definition", "retries, tries", "How often to try again."),
    ]


def test_long_sphinx_signature_loses_its_parameters_in_the_term() -> None:
    params = "".join(f"<em class='sig-param'><span class='pre'>{name}=None</span></em>, "
                     for name in ("cls", "indent", "separators"))
    html = ("<div class='body' role='main'><dl class='py function'><dt class='sig sig-object py' id='json.dump'>"
            "<span class='sig-prename descclassname'><span class='pre'>json.</span></span><span class='sig-name "
            f"descname'><span class='pre'>dump</span></span><span class='sig-paren'>(</span>{params}<em "
            "class='sig-param'><span class='pre'>obj</span></em><span class='sig-paren'>)</span></dt><dd><p>Serialize "
            "obj as a JSON formatted stream.</p></dd></dl></div><span class='pre'>sphinx</span>")
    [unit] = html_to_units(html, max_signature_chars=40).units
    assert (unit.term, unit.text) == ("json.dump(...)", "Serialize obj as a JSON formatted stream.")
    [whole] = html_to_units(html).units
    assert whole.term == "json.dump(cls=None, indent=None, separators=None, obj)"


HELP_LISTING = """usage: venv [-h] [--without-pip] [--prompt PROMPT] ENV_DIR

optional arguments:
  -h, --help            show this help message and exit
  --system-site-packages
                        Give the virtual environment access to the system
                        site-packages dir.
  --without-pip         Skips installing or upgrading pip in the virtual
                        environment (pip is bootstrapped by default)
  --prompt PROMPT       Provides an alternative prompt prefix for this
                        environment.

Once an environment has been created, you may wish to activate it."""


def test_a_help_listing_gives_each_option_with_its_whole_description() -> None:
    from docent.text.code import option_descriptions

    assert option_descriptions(HELP_LISTING) == [
        ("--help", "show this help message and exit"),  # the longest name, without its metavar
        ("--system-site-packages", "Give the virtual environment access to the system site-packages dir."),
        ("--without-pip", "Skips installing or upgrading pip in the virtual environment (pip is bootstrapped "
                          "by default)"),
        ("--prompt", "Provides an alternative prompt prefix for this environment."),
    ]
    # a command line that uses options documents none of them
    assert option_descriptions("pip install --upgrade --user requests\npython -m venv --clear env") == []


def test_a_help_listing_in_a_code_block_is_a_passage_and_its_options_are_definitions() -> None:
    html = (f"<main><h1>venv</h1><p>The command, if run with -h, will show the available options:</p>"
            f"<pre>{HELP_LISTING}</pre><pre>python -m venv env</pre></main>")
    rows, code_rows, metrics = clean(html)
    options = [(r["kind"], r["section"], r["text"]) for r in rows if r["text"].startswith("--")]
    assert options == [
        ("definition", "venv", "--help: Show this help message and exit."),
        ("definition", "venv", "--system-site-packages: Give the virtual environment access to the system "
                               "site-packages dir."),
        ("definition", "venv", "--without-pip: Skips installing or upgrading pip in the virtual environment (pip "
                               "is bootstrapped by default)."),
        ("definition", "venv", "--prompt: Provides an alternative prompt prefix for this environment."),
    ]
    assert metrics["option_definitions"] == 4
    # the listing stays whole as a code passage, and an option introduces no later block
    assert [r["text"] for r in code_rows] == [HELP_LISTING, "python -m venv env"]
    assert code_rows[1]["context"] == "The command, if run with -h, will show the available options:"


def test_a_list_item_that_documents_a_name_is_a_definition_of_it() -> None:
    html = ("<main><h1>API</h1><ul><li><p>env_dir - The location of the virtual environment. Used for "
            "<code>__VENV_DIR__</code> in activation scripts.</p></li><li><p>symlinks – a Boolean value indicating "
            "whether to symlink.</p></li><li><p>Hanoi – the capital since 1976.</p></li></ul></main>")
    rows, _, metrics = clean(html)
    assert [(r["kind"], r["text"]) for r in rows] == [
        # every sentence names its term, the second too
        ("definition", "env_dir: The location of the virtual environment."),
        ("definition", "env_dir: Used for __VENV_DIR__ in activation scripts."),
        ("definition", "symlinks: a Boolean value indicating whether to symlink."),
        ("sentence", "Hanoi – the capital since 1976."),  # a capitalised name opens prose
    ]
    assert metrics["definitions"] == 2
