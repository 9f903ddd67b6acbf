"""The `dvc plots` page offline: vega from the pinned package, the committed template, headless Chromium.

The browser test builds a temporary git + DVC repo from the committed default run (dvc.yaml, the
dvclive folder metrics/train, metrics/eval_plot.json, plots/offline.html, .dvc/config), renders
`dvc plots show` and `dvc plots diff` between two commits with dvc itself, and opens the pages in
Debian's chromium with every request that is not a local file aborted.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from docent.plots_page import VEGA_FILES, install_vega_files

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "plots" / "offline.html"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LIBRARY_GLOBALS = {"vega.min.js": "vega", "vega-lite.min.js": "vegaLite", "vega-embed.min.js": "vegaEmbed"}
LOSS_DIV = "#Training_and_eval_loss"  # dvc's div id for the top-level plot "Training and eval loss"


def test_vega_files_come_from_the_pinned_package(tmp_path):
    versions = install_vega_files(tmp_path / "vega")
    assert sorted(p.name for p in (tmp_path / "vega").iterdir()) == sorted(VEGA_FILES)
    for name, version in versions.items():
        text = (tmp_path / "vega" / name).read_text(encoding="utf-8")
        assert f'"{version}"' in text, name  # the build carries its own version string
        assert f"self).{LIBRARY_GLOBALS[name]}=" in text, name  # a UMD build: a global for a plain <script>
        assert "sourceMappingURL" not in text  # nothing the browser would go looking for
    requirements = (REPO / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^django-js-lib-vega-embed==[\d.]+$", requirements, re.M)


def test_template_loads_only_the_local_copies_and_is_dvc_default():
    html = TEMPLATE.read_text(encoding="utf-8")
    assert "{plot_divs}" in html
    assert "{scripts}" not in html  # where dvc would put its CDN <script> tags
    assert re.findall(r'<script src="([^"]+)"', html) == [f"../plots/vega/{name}" for name in VEGA_FILES]
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", html)  # no remote URL anywhere
    config = configparser.ConfigParser()
    config.read(REPO / ".dvc" / "config")
    # dvc resolves a relative plots.html_template against .dvc/
    assert (REPO / ".dvc" / config["plots"]["html_template"]).resolve() == TEMPLATE.resolve()
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "--html-template plots/offline.html" in makefile and "docent.plots_page plots/vega" in makefile


# ---------------------------------------------------------------- in Chromium

def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def _dvc(repo: Path, *args: str) -> Path:
    """Run dvc; returns the page it wrote (dvc_plots/index.html)."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"dvc {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    page = repo / "dvc_plots" / "index.html"
    assert page.is_file()
    return page


def _plot_count() -> int:
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
    stage_plots = sum(len(stage.get("plots", [])) for stage in dvc["stages"].values())
    return len(dvc.get("plots", [])) + stage_plots


@pytest.fixture(scope="module")
def plots_repo(tmp_path_factory) -> Path:
    """Two commits: a trial (the default run with its train loss halved), then the committed default run."""
    repo = tmp_path_factory.mktemp("plots_repo")
    _git(repo, "init", "-q", "-b", "main")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True, capture_output=True)
    shutil.copy(REPO / ".dvc" / "config", repo / ".dvc" / "config")  # the template as dvc's default
    for rel in ("dvc.yaml", "plots/offline.html", "metrics/eval_plot.json", ".gitignore"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, repo / rel)
    shutil.copytree(REPO / "metrics" / "train", repo / "metrics" / "train")
    install_vega_files(repo / "plots" / "vega")  # what `make plots` does
    loss = repo / "metrics/train/plots/metrics/train/loss.tsv"
    committed = loss.read_text(encoding="utf-8")
    header, *rows = committed.splitlines()
    halved = [f"{step}\t{float(value) / 2}" for step, value in (r.split("\t") for r in rows)]
    loss.write_text("\n".join([header, *halved]) + "\n", encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "a trial")
    loss.write_text(committed, encoding="utf-8")
    _git(repo, "commit", "-qam", "the default run")  # HEAD and the workspace: the committed run
    return repo


def _render_offline(page: Path, screenshot: Path) -> dict:
    """Open the page with the network cut off; wait for every vega view; report what happened."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    aborted: list[str] = []
    errors: list[str] = []

    def only_local_files(route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            aborted.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            context.route("**/*", only_local_files)
            context.on("request", lambda r: requests.append(r.url))
            tab = context.new_page()
            tab.on("pageerror", lambda e: errors.append(str(e)))
            tab.goto(page.as_uri())
            tab.wait_for_function(f"window.docentViews && window.docentViews.length === {_plot_count()}",
                                  timeout=30_000)
            views = tab.evaluate("Promise.all(window.docentViews).then(r => r.length)")
            result = tab.evaluate(
                """(lossDiv) => ({
                    versions: [vega.version, vegaLite.version, vegaEmbed.version],
                    svgs: document.querySelectorAll('.vega-embed svg.marks').length,
                    canvases: document.querySelectorAll('.vega-embed canvas').length,
                    // points of each drawn line of the loss plot (M/L commands of its SVG paths)
                    lossLines: [...document.querySelectorAll(lossDiv + ' .mark-line path')]
                        .map(p => ((p.getAttribute('d') || '').match(/[ML]/g) || []).length),
                    lossText: document.querySelector(lossDiv).textContent,
                })""", LOSS_DIV)
            tab.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {**result, "views": views, "requests": requests, "aborted": aborted, "errors": errors}


def _assert_offline_and_drawn(result: dict, screenshot: Path) -> None:
    assert result["aborted"] == [], "requests left the machine"
    assert result["requests"] and all(u.startswith("file://") for u in result["requests"]), result["requests"]
    assert any(u.endswith("/plots/vega/vega-embed.min.js") for u in result["requests"])
    assert result["errors"] == []
    assert result["views"] == _plot_count() and result["svgs"] == _plot_count() and result["canvases"] == 0
    assert result["versions"] == [version for _, version in VEGA_FILES.values()]
    assert screenshot.stat().st_size > 20_000
    print(f"screenshot: {screenshot}")


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                    reason=f"{CHROMIUM} not installed; `make browser` installs it (apt-get, needs root)")
def test_plots_show_renders_offline_in_chromium(plots_repo, tmp_path):
    page = _dvc(plots_repo, "plots", "show")  # no --html-template: .dvc/config makes offline.html the default
    assert "cdn.jsdelivr" not in page.read_text(encoding="utf-8")
    shot = tmp_path / "plots_show.png"
    result = _render_offline(page, shot)
    _assert_offline_and_drawn(result, shot)
    # the train curve (45 steps) and the eval curve (4 evaluations) are drawn from the committed TSVs
    assert max(result["lossLines"]) >= 45 and min(result["lossLines"]) >= 4, result["lossLines"]
    assert "workspace" in result["lossText"] and "train/loss.tsv" in result["lossText"]  # legend


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                    reason=f"{CHROMIUM} not installed; `make browser` installs it (apt-get, needs root)")
def test_plots_diff_renders_both_revisions_offline(plots_repo, tmp_path):
    page = _dvc(plots_repo, "plots", "diff", "HEAD~1", "HEAD", "--html-template", "plots/offline.html")
    shot = tmp_path / "plots_diff.png"
    result = _render_offline(page, shot)
    _assert_offline_and_drawn(result, shot)
    assert "HEAD~1" in result["lossText"] and "HEAD" in result["lossText"].replace("HEAD~1", "")  # legend
    long_lines = [n for n in result["lossLines"] if n >= 45]
    assert len(long_lines) >= 2, result["lossLines"]  # a train curve per revision
