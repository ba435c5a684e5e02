"""Worker-slider moves on the Explore page, timed in real headless Chromium, end to end.

``bench/app_rerun.py`` times the page's compute; this times what the user waits for: from the
key press that moves the Workers slider (20,000-task ``mmc``, swept at 4..8 workers) until the
metric changes and until the trade-off chart's "now" line stands at the new count, with the
server's own rerun included. Two kinds of move:

- *new count*: 4 → 5 → … → 8 on a fresh server, each pressed as soon as the charts show the
  last one, before the page has made the other counts' runs: each move simulates its count;
- *count seen*: 8 → 7 → 8 → …, each once the page has settled (its status widget gone).

``--baseline DIR`` times another checkout's app (e.g. ``/work/main``) in the same run, the two
alternating, so a shared machine's load falls on both; the ratios compare them.
Run: ``python bench/browser_rerun.py [--moves N] [--rounds N] [--baseline DIR]``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import running_streamlit  # noqa: E402
from tests.ui.test_browser import NOW_AT, chromium_page, metric, settled  # noqa: E402

METRIC_CHANGED = """(before) => {
  const box = [...document.querySelectorAll('[data-testid="stMetric"]')]
    .find(e => e.innerText.includes('utilisation'));
  return box && box.querySelector('[data-testid="stMetricValue"]').innerText !== before;
}"""
FIRST, LAST = 4, 8  # mmc's own count and the top of its sweep


def move(page, slider, key: str, workers: int) -> tuple[float, float]:
    """Seconds from the key press to the new metric and to the redrawn trade-off chart."""
    before = metric(page, "utilisation")
    slider.focus()
    start = time.monotonic()
    page.keyboard.press(key)
    page.wait_for_function(METRIC_CHANGED, arg=before, polling="raf", timeout=60_000)
    shown = time.monotonic() - start
    page.wait_for_function(NOW_AT, arg=workers, polling="raf", timeout=60_000)
    return shown, time.monotonic() - start


def session(root: Path, moves: int) -> dict[str, list[tuple[float, float]]]:
    """Both kinds of move on a fresh server of the checkout ``root``."""
    with running_streamlit(root) as (url, _), chromium_page(1400, 1800) as page:
        page.goto(url)
        page.wait_for_function(NOW_AT, arg=FIRST, timeout=180_000)
        slider = page.get_by_role("slider", name=re.compile("Workers")).first
        new = [move(page, slider, "ArrowRight", n) for n in range(FIRST + 1, LAST + 1)]
        settled(page)
        seen = []
        for i in range(moves):
            seen.append(
                move(
                    page, slider, *(("ArrowLeft", LAST - 1) if i % 2 == 0 else ("ArrowRight", LAST))
                )
            )
            settled(page)
    return {"new count": new, "count seen": seen}


def median_ms(timings: list[tuple[float, float]], part: int) -> float:
    return statistics.median(t[part] for t in timings) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--moves", type=int, default=6, help="moves to a count seen, per round")
    parser.add_argument("--rounds", type=int, default=1, help="fresh servers per checkout")
    parser.add_argument("--baseline", type=Path, help="another checkout to time alongside")
    args = parser.parse_args()
    roots = {"this": ROOT, **({"baseline": args.baseline} if args.baseline else {})}
    found: dict[str, dict[str, list]] = {name: {} for name in roots}
    loads = []
    for _ in range(args.rounds):
        for name, root in roots.items():
            loads.append(os.getloadavg()[0])
            for kind, timings in session(root, args.moves).items():
                found[name].setdefault(kind, []).extend(timings)
    print(
        f"Worker-slider moves on Explore (mmc, 20,000 tasks), {args.rounds} round(s), "
        f"load {min(loads):.1f}–{max(loads):.1f}"
    )
    print(f"{'checkout':<10}{'move':<12}{'n':>4}{'metric ms':>11}{'chart ms':>10}")
    for name, kinds in found.items():
        for kind, timings in kinds.items():
            print(
                f"{name:<10}{kind:<12}{len(timings):>4}{median_ms(timings, 0):>11.0f}"
                f"{median_ms(timings, 1):>10.0f}   each: "
                + " ".join(f"{drawn * 1000:.0f}" for _, drawn in timings)
            )
    if args.baseline:
        print("ratio this / baseline of the median chart time:")
        for kind in found["this"]:
            ratio = median_ms(found["this"][kind], 1) / median_ms(found["baseline"][kind], 1)
            print(f"  {kind}: {ratio:.2f}")


if __name__ == "__main__":
    main()
