"""End to end: `python -m docent serve` on a free port, the page in headless Chromium, two questions.

Chromium comes from Debian (`make browser` installs it as root; `make test` runs that first),
driven by Playwright from PyPI; Playwright's own browser download is not used.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from assistant_fixtures import save_classifier, tiny_files, train_classifier, write_params

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    command = [sys.executable, "-m", "docent", "serve", "--params", str(params),
               "--finetuned", str(files.finetuned), "--classifier", str(classifier_dir),
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


def test_kiosk_page_answers_and_refuses_in_chromium(server_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert shutil.which(CHROMIUM)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            page.goto(server_url)
            expect(page.locator("#domain-header")).to_have_text("This assistant only knows about Vietnamese history")

            page.fill("#question", "Who was Hồ Chí Minh?")
            page.keyboard.press("Enter")
            answer = page.locator(".msg.assistant").nth(0)
            expect(answer).to_have_attribute("data-state", "done", timeout=60_000)
            answer_text = answer.text_content() or ""
            assert answer_text.strip() and REFUSAL not in answer_text

            page.fill("#question", "How do I bake bread?")
            page.click("#send")
            refusal = page.locator(".msg.assistant").nth(1)
            expect(refusal).to_have_attribute("data-state", "refused", timeout=60_000)
            expect(refusal).to_have_text(REFUSAL)  # shown literally
            assert page.locator("#log b, #log img").count() == 0 and page.title() != "pwned"
            expect(page.locator(".msg.user")).to_have_text(["Who was Hồ Chí Minh?", "How do I bake bread?"])

            shot = tmp_path / "kiosk.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 5000
            print(f"screenshot: {shot}")
        finally:
            browser.close()
