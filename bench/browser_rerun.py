"""A worker-slider move on the Explore page, timed in real headless Chromium, end to end.

``bench/app_rerun.py`` times the page's compute; this times what the user waits for: from the
key press that moves the Workers slider (20,000-task ``mmc``) until the metric changes and until
the trade-off chart's "now" line stands at the new count, with the server's own rerun included.
The moves go 4 → 5 → 4 → …: the first simulates 5 workers, later ones find both runs cached;
the sweep is never rerun (its range is anchored at the scenario's own count).
Run: ``python bench/browser_rerun.py [--moves N]`` (needs Chromium and Playwright).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import running_streamlit  # noqa: E402
from tests.ui.test_browser import NOW_AT, chromium_page, metric, settled  # noqa: E402

METRIC_CHANGED = """(before) => {
  const box = [...document.querySelectorAll('[data-testid="stMetric"]')]
    .find(e => e.innerText.includes('utilisation'));
  return box && box.querySelector('[data-testid="stMetricValue"]').innerText !== before;
}"""


def moves(page, count: int) -> list[tuple[float, float]]:
    """Seconds from key press to the new metric and to the redrawn trade-off chart, per move."""
    slider = page.get_by_role("slider", name=re.compile("Workers")).first
    timings = []
    for i in range(count):
        workers, key = (5, "ArrowRight") if i % 2 == 0 else (4, "ArrowLeft")
        before = metric(page, "utilisation")
        slider.focus()
        start = time.monotonic()
        page.keyboard.press(key)
        page.wait_for_function(METRIC_CHANGED, arg=before, polling="raf", timeout=60_000)
        shown = time.monotonic() - start
        page.wait_for_function(NOW_AT, arg=workers, polling="raf", timeout=60_000)
        timings.append((shown, time.monotonic() - start))
        settled(page)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--moves", type=int, default=7)
    args = parser.parse_args()
    with running_streamlit() as (url, _), chromium_page(1400, 1800) as page:
        page.goto(url)
        page.wait_for_function(NOW_AT, arg=4, timeout=120_000)
        settled(page)
        timings = moves(page, args.moves)
    print(f"Worker-slider moves on Explore (mmc, 20,000 tasks), load {os.getloadavg()[0]:.1f}")
    print(f"{'move':<6}{'metric ms':>11}{'chart ms':>10}")
    for i, (shown, drawn) in enumerate(timings):
        print(f"{i:<6}{shown * 1000:>11.0f}{drawn * 1000:>10.0f}")
    later = timings[1:] or timings
    print(
        f"median of the cached moves: metric {statistics.median(t[0] for t in later) * 1000:.0f} "
        f"ms, chart {statistics.median(t[1] for t in later) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
