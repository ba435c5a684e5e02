"""Screenshots of every page of the app for the README: ``python docs/screenshots.py``.

Starts the app on a free loopback port, drives it in headless Chromium (Explore, a real live run
on the Live page, Compare, Learn) and writes ``docs/*.png``. Needs redis-server and Chromium.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from live.redis_server import free_port  # noqa: E402

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> None:
    port = free_port()
    app = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1700})
            page.goto(url)
            expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=60_000)
            page.screenshot(path=str(ROOT / "docs/explore.png"), full_page=True)
            page.get_by_text("Live", exact=True).click()
            page.get_by_role("button", name="Start live run").click()
            expect(page.get_by_text("Finished.")).to_be_visible(timeout=180_000)
            time.sleep(2)
            page.screenshot(path=str(ROOT / "docs/live.png"), full_page=True)
            page.get_by_text("Compare", exact=True).click()
            expect(page.locator(".js-plotly-plot")).to_have_count(4, timeout=60_000)
            time.sleep(1)
            page.screenshot(path=str(ROOT / "docs/compare.png"), full_page=True)
            page.get_by_text("Learn", exact=True).click()
            expect(page.locator(".js-plotly-plot")).to_have_count(2, timeout=60_000)
            time.sleep(1)
            page.screenshot(path=str(ROOT / "docs/learn.png"), full_page=True)
            browser.close()
    finally:
        app.terminate()
        app.wait()


if __name__ == "__main__":
    main()
