"""End to end: `python -m docent serve` on a free port, the page in headless Chromium: an answer with
its source link, a source that must stay text, an abstention and a refusal.

Chromium comes from Debian (`make browser` installs it as root; `make test` runs that first),
driven by Playwright from PyPI; Playwright's own browser download is not used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from assistant_fixtures import ABSTAIN, free_port, save_classifier, tiny_files, train_classifier, write_params

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[2]
# The refusal is text from params shown on the page: markup in it must stay text (issue 8: no HTML injection).
REFUSAL = 'Sorry, only <b>Vietnamese history</b> here. <img src=x onerror="document.title=\'pwned\'">'

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"{CHROMIUM} not installed; `make browser` installs it (apt-get, needs root)",
)


def wait_until_up(url: str, server: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"server exited with {server.returncode}: {server.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as res:
                if res.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"server did not answer {url} within {timeout_s} s")


@pytest.fixture
def server_url(tmp_path_factory, tmp_path):
    files = tiny_files(tmp_path_factory)
    classifier_dir = save_classifier(train_classifier(), tmp_path / "classifier")
    port = free_port()
    params = write_params(tmp_path / "params.yaml", files.base, refusal=REFUSAL)
    # the fine-tuned copy trained with passages: the server retrieves from --index without being told
    command = [sys.executable, "-m", "docent", "serve", "--params", str(params),
               "--finetuned", str(files.grounded), "--classifier", str(classifier_dir), "--index", str(files.index),
               "--model-cache", str(files.cache), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/healthz", server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stderr.close()


def test_kiosk_page_answers_with_sources_and_refuses_in_chromium(server_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert shutil.which(CHROMIUM)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 760})
            page.goto(server_url)
            expect(page.locator("#domain-header")).to_have_text("This assistant only knows about Vietnamese history")
            answers = page.locator(".msg.assistant")

            def ask(question: str, state: str, n: int) -> object:
                page.fill("#question", question)
                page.keyboard.press("Enter")
                message = answers.nth(n)
                expect(message).to_have_attribute("data-state", state, timeout=60_000)
                return message

            answer = ask("Who was Hồ Chí Minh?", "done", 0)
            expect(answer).to_have_attribute("data-status", "answered")
            answer_text = answer.text_content() or ""
            assert REFUSAL not in answer_text and answer_text.split("Sources:")[0].strip()
            link = answer.locator(".sources a")
            expect(link).to_have_count(1)
            expect(link).to_have_text("Hồ Chí Minh — Life")
            expect(link).to_have_attribute("href", "https://en.wikipedia.org/wiki/Ho_Chi_Minh")
            expect(link).to_have_attribute("rel", "noopener noreferrer")

            # a source whose url is javascript: and whose title holds markup: plain text, never a link
            river = ask("Which river flows through Hanoi?", "done", 1)
            expect(river.locator(".sources li")).to_have_text(["Red River <b>delta</b>"])
            expect(river.locator(".sources a")).to_have_count(0)

            absent = ask("Who were the Trưng sisters?", "done", 2)
            expect(absent).to_have_attribute("data-status", "abstained")
            expect(absent).to_have_text(ABSTAIN)
            expect(absent.locator(".sources")).to_have_count(0)

            refusal = ask("How do I bake bread?", "refused", 3)
            expect(refusal).to_have_text(REFUSAL)  # shown literally
            expect(refusal.locator(".sources")).to_have_count(0)
            assert page.locator("#log b, #log img").count() == 0 and page.title() != "pwned"
            river.locator(".sources li").click()  # text, not a link: nothing runs
            assert page.title() != "pwned"
            expect(page.locator(".msg.user")).to_have_text(["Who was Hồ Chí Minh?", "Which river flows through Hanoi?",
                                                           "Who were the Trưng sisters?", "How do I bake bread?"])

            shot = tmp_path / "kiosk.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 5000
            print(f"screenshot: {shot}")
        finally:
            browser.close()
