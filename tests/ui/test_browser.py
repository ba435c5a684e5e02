"""End to end in real headless Chromium: the Explore page answers its worker-count slider and
shows a scenario of two pools with a slider and a trade-off per pool."""

import contextlib
import os
import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 1700):
    """A page in headless Chromium (Debian's), closed after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def settled(page) -> None:
    """Wait until Streamlit has finished rerunning the script (its status widget is gone)."""
    from playwright.sync_api import expect

    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=60_000)


def metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]', has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def test_moving_the_worker_slider_changes_the_figures(streamlit_app, tmp_path):
    from playwright.sync_api import expect

    shots = Path(os.environ.get("QUEUELAB_SCREENSHOTS", tmp_path))
    with chromium_page(1400, 1800) as page:
        page.goto(streamlit_app)
        expect(page.get_by_text("Worker-count trade-off", exact=True)).to_be_visible(timeout=60_000)
        page.wait_for_selector('[data-testid="stMetricValue"]', timeout=60_000)
        before = metric(page, "utilisation")
        charts = page.locator(".js-plotly-plot")
        expect(charts).to_have_count(3, timeout=60_000)
        settled(page)
        page.screenshot(path=str(shots / "explore.png"), full_page=True)

        slider = page.get_by_role("slider", name=re.compile("Workers"))
        slider.first.focus()
        for _ in range(4):
            page.keyboard.press("ArrowRight")
        expect(
            page.locator('[data-testid="stMetric"]', has_text="utilisation").first.locator(
                '[data-testid="stMetricValue"]'
            )
        ).not_to_have_text(before, timeout=60_000)
        after = metric(page, "utilisation")
        assert float(after.rstrip("%")) < float(before.rstrip("%"))  # more workers, less busy
        expect(charts).to_have_count(3, timeout=60_000)
        page.wait_for_function(NOW_AT, arg=8, timeout=60_000)  # the trade-off chart redrawn
        settled(page)
        page.screenshot(path=str(tmp_path / "explore-more-workers.png"), full_page=True)
        # the control is in the address, so a reload comes back to it (test_app checks that
        # half: a reload is a page load, ~10 s on a busy CI machine)
        expect(page).to_have_url(re.compile(r"explore-mmc-workers=8\b"), timeout=30_000)
        two_pools_show_a_worker_slider_and_a_trade_off_each(page)
    assert (tmp_path / "explore-more-workers.png").stat().st_size > 10_000


def test_explores_sliders_come_back_after_a_reload(streamlit_app):
    """Each of Explore's sliders moved (a float's steps, a select slider's stops, a count up and
    one down), then the page reloaded: the address alone gives each its value back
    (test_scenario_input reads one from a set address; this is the browser's own reload)."""
    from playwright.sync_api import expect

    moves = {
        "Tasks": "ArrowRight",
        "Arrival rate (tasks/s)": "ArrowRight",
        "Service mean (s)": "ArrowLeft",
        "Workers": "ArrowRight",
        "max_retries": "ArrowLeft",
        "retry_backoff (s, 0 = countdown)": "ArrowRight",
    }
    with chromium_page(1400, 1000) as page:
        page.goto(f"{streamlit_app}/?page=Explore&explore-name=flaky_api")
        page.wait_for_selector('[data-testid="stMetricValue"]', timeout=60_000)
        settled(page)
        # the range input by its own label (its group has the label too, and its accessible
        # name is the label twice)
        sliders = {
            label: page.locator(f'input[type="range"][aria-label="{label}"]') for label in moves
        }
        before = {label: s.get_attribute("aria-valuetext") for label, s in sliders.items()}
        for label, key in moves.items():
            sliders[label].focus()
            page.keyboard.press(key)
            expect(sliders[label]).not_to_have_attribute("aria-valuetext", before[label])
            settled(page)
        moved = {label: s.get_attribute("aria-valuetext") for label, s in sliders.items()}
        expect(page).to_have_url(re.compile(r"explore-flaky-api-backoff=2\.5\b"), timeout=30_000)
        page.reload()
        page.wait_for_selector('[data-testid="stMetricValue"]', timeout=60_000)
        settled(page)
        for label, value in moved.items():
            expect(sliders[label]).to_have_attribute("aria-valuetext", value, timeout=30_000)
        expect(page.get_by_test_id("stException")).to_have_count(0)


def test_the_time_scale_stays_in_the_address_across_page_switches(streamlit_app):
    """The Live page's time scale at 0.01, its slowest step: after Explore and back the address
    dropped it (the slider's default had become that first step, and a default is left out), so
    the slider said 0.01 and a reload of the address ran at the host's carried 0.1."""
    from playwright.sync_api import expect

    from ui.live import unavailable

    if reason := unavailable():
        pytest.skip(f"the Live page shows no controls here: {reason}")
    with chromium_page() as page:
        page.goto(f"{streamlit_app}/?page=Live&live-name=mmc&live-scale=0.01")
        scale = page.get_by_role("slider", name=re.compile("Time scale"))
        expect(scale).to_have_attribute("aria-valuetext", "0.01", timeout=60_000)
        settled(page)
        page.get_by_text("Explore", exact=True).click()
        expect(page.get_by_text("Worker-count trade-off", exact=True)).to_be_visible(timeout=60_000)
        settled(page)
        page.get_by_text("Live", exact=True).click()
        expect(scale).to_have_attribute("aria-valuetext", "0.01", timeout=60_000)
        settled(page)
        expect(page).to_have_url(re.compile(r"live-scale=0\.01\b"))
        page.reload()  # the address alone gives the slider back as it was
        expect(scale).to_have_attribute("aria-valuetext", "0.01", timeout=60_000)


def two_pools_show_a_worker_slider_and_a_trade_off_each(page) -> None:
    """On Explore: the shipped scenario of two task types on two pools renders without error,
    with a worker-count slider and a trade-off chart per pool and no [workers] slider."""
    from playwright.sync_api import expect

    page.get_by_test_id("stSelectbox").filter(has_text="Scenario").click()
    page.get_by_role("option", name="thumbnails_and_reports").click()
    for pool in ("fast", "slow"):
        expect(page.get_by_role("slider", name=f"Workers in pool {pool}")).to_have_count(1)
        expect(page.get_by_text(f"Pool {pool}: worker-count trade-off", exact=True)).to_be_visible(
            timeout=120_000
        )
    expect(page.get_by_text("Smallest total worker count", exact=False)).to_be_visible()
    settled(page)
    expect(page.locator(".js-plotly-plot")).to_have_count(4)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_role("slider", name="Workers", exact=True)).to_have_count(0)


NOW_AT = """(n) => {
  const plots = document.querySelectorAll('.js-plotly-plot');
  const shapes = (plots.length === 3 && plots[2].layout.shapes) || [];
  return shapes.some(s => s.x0 === n && s.x1 === n);
}"""  # the trade-off chart (the third) marks n workers as "now"


def filter_the_tasks_and_open_one(page) -> None:
    """On a finished Live page: the worker filter narrows the task table, and a task id typed
    into the history box shows every row of that task's trace."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    caption = page.get_by_text(re.compile(r"^\d+ of \d+ matching tasks"))
    total = re.search(r"of (\d+) matching", caption.inner_text())[1]
    option = page.get_by_role("option", name="w1", exact=True)
    for _ in range(5):  # a rerun of the page as the run settles can close the list again
        settled(page)  # on a loaded host a rerun can take seconds (CI closed it three times)
        page.get_by_test_id("stMultiSelect").filter(has_text="Worker").click()
        try:
            option.click(timeout=10_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    else:
        raise AssertionError("the Worker filter's list never stayed open for its option w1")
    page.keyboard.press("Escape")
    expect(caption).not_to_contain_text(f"of {total} matching", timeout=30_000)
    tasks = page.locator("table").nth(1)
    for other in ("w2", "w3", "w4"):  # the table redrawn too, not only its caption
        expect(tasks).not_to_contain_text(other, timeout=30_000)
    frames = page.get_by_test_id("stDataFrame")
    before = frames.count()
    picker = page.get_by_test_id("stSelectbox").filter(has_text="history")
    picker.get_by_role("combobox").click()
    page.keyboard.type(tasks.locator("td").first.inner_text())
    page.keyboard.press("Enter")
    expect(frames).to_have_count(before + 1, timeout=30_000)
    history = page.locator("table").last
    expect(history).to_contain_text("PENDING")
    expect(history).to_contain_text("SUCCESS")
    expect(history).to_contain_text("w1")  # the filter showed w1's tasks; one of them ran there


@pytest.mark.live  # the one live run on the module's app server: after the tests that find none
def test_every_page_in_the_browser(streamlit_app, tmp_path):
    """A real live run started from the Live page, then Compare and Learn; screenshots of each.

    ``QUEUELAB_SCREENSHOTS=docs python -m pytest tests/ui/test_browser.py`` retakes the README's.
    """
    from playwright.sync_api import expect

    shots = Path(os.environ.get("QUEUELAB_SCREENSHOTS", tmp_path))
    with chromium_page(1400, 1700) as page:
        page.goto(streamlit_app)
        expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=60_000)
        page.get_by_text("Live", exact=True).click()
        page.get_by_role("button", name="Start live run").click()
        # the run's own caption: "…never finished." in the workers' caption is there from the start
        expect(page.get_by_text(re.compile(r"^Finished\. "))).to_be_visible(timeout=180_000)
        expect(page.get_by_text("SUCCESS").first).to_be_visible()
        expect(page.locator("table").first).to_contain_text("w1", timeout=60_000)  # drawn
        settled(page)
        page.screenshot(path=str(shots / "live.png"), full_page=True)
        filter_the_tasks_and_open_one(page)
        for heading, name in (("Tasks", "live-tasks"), ("Sizing", "live-sizing")):
            page.get_by_role("heading", name=heading).evaluate("e => e.scrollIntoView()")
            page.screenshot(path=str(shots / f"{name}.png"))  # the monitor below the fold
        page.get_by_text("Compare", exact=True).click()
        expect(page.locator(".js-plotly-plot")).to_have_count(4, timeout=60_000)
        expect(page.get_by_text("KS distance", exact=False)).to_be_visible()
        settled(page)
        # its verdict on top: one take of the README's was scrolled to the page's foot
        page.get_by_role("heading", name="Compare: simulated against real").evaluate(
            "e => e.scrollIntoView()"
        )
        page.screenshot(path=str(shots / "compare.png"), full_page=True)
        page.get_by_text("Learn", exact=True).click()
        expect(page).to_have_url(re.compile(r"page=Learn\b"), timeout=30_000)  # a reload stays
        expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=60_000)
        expect(page.get_by_text("p99 wait, multiplier 4")).to_be_visible(timeout=60_000)
        settled(page)
        page.screenshot(path=str(shots / "learn.png"), full_page=True)
    for name in ("live", "compare", "learn"):
        assert (shots / f"{name}.png").stat().st_size > 10_000


@pytest.mark.live
def test_ctrl_c_on_streamlit_mid_run_stops_the_run_and_leaves_nothing(no_leftovers):
    """A live run started from the page, then Ctrl-C on `streamlit run`: the run's workers,
    pool children and redis-server stop with it, and its folders are removed."""
    import signal
    import time

    from playwright.sync_api import expect

    from tests.conftest import alive, descendants, running_streamlit

    with running_streamlit() as (url, app):
        with chromium_page(1400, 1700) as page:
            page.goto(url)
            expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=60_000)
            page.get_by_text("Live", exact=True).click()
            start = page.get_by_role("button", name="Start live run")
            expect(start).to_be_enabled(timeout=60_000)
            start.click()
            deadline = time.monotonic() + 120
            while len(tree := descendants(app.pid)) < 9:  # redis-server, 4 nodes, 4 children
                assert time.monotonic() < deadline, f"the run did not start: {len(tree)}"
                time.sleep(0.2)
            expect(page.get_by_text("SUCCESS").first).to_be_visible(timeout=60_000)
        tree = descendants(app.pid)
        app.send_signal(signal.SIGINT)
        app.wait(timeout=60)
        deadline = time.monotonic() + 20
        while alive(tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(tree), f"left behind: {sorted(alive(tree))}"
        assert not list(Path("/tmp").glob(f"queuelab-*-{app.pid}-*"))


DRAWN = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .flatMap(p => (p.data || []).map(d => d.name))"""  # the names of every chart's traces


@pytest.mark.live  # after test_every_page_in_the_browser: Start takes one run at a time
def test_the_live_page_shows_a_node_autoscalers_decisions(streamlit_app, tmp_path):
    """A node-autoscaled scenario pasted on the Live page and run (tests/live's burst: 20 tasks
    at once on one node, two added, removed after the cooldown): the page lists the run's
    decisions with their reasons, and marks them, and the simulation's, on the nodes chart."""
    from playwright.sync_api import expect

    from sim import scenario
    from tests.live.test_node_autoscaler import BURST
    from tests.sim.helpers import make

    shots = Path(os.environ.get("QUEUELAB_SCREENSHOTS", tmp_path))
    with chromium_page(1400, 2400) as page:
        page.goto(f"{streamlit_app}/?page=Live&live-src=upload+or+paste")
        box = page.get_by_label("…or paste TOML")
        box.fill(scenario.dumps(make(**BURST, name="burst_nodes")))
        box.press("Control+Enter")
        settled(page)
        # 0.1, as tests/live runs the burst: node_start (80 s) is 8 wall s, over a node's boot.
        # A pasted scenario starts at its own carried scale (0.01 here: the added nodes then
        # booted past the whole run), which the address's live-scale of another does not set
        scale = page.get_by_role("slider", name=re.compile("Time scale"))
        for _ in range(12):
            now = float(scale.get_attribute("aria-valuetext"))
            if now == 0.1:
                break
            scale.focus()
            page.keyboard.press("ArrowRight" if now < 0.1 else "ArrowLeft")
            settled(page)
        expect(scale).to_have_attribute("aria-valuetext", "0.1")
        page.get_by_text(re.compile("^(none: the textbook queue|as the scenario sets)$")).click()
        settled(page)
        page.get_by_role("button", name="Start live run").click()
        expect(page.get_by_text(re.compile(r"^Finished\. "))).to_be_visible(timeout=240_000)
        heading = page.get_by_role("heading", name="Node autoscaler decisions")
        expect(heading).to_be_visible(timeout=60_000)
        table = page.get_by_test_id("stTable").filter(has=page.locator("text=why"))
        expect(table).to_have_count(1, timeout=60_000)
        settled(page)
        # the simulation's markers come once it has run, after the run's own
        simulated = ["simulated start", "simulated stop"]
        page.wait_for_function(
            f"(names) => names.every(n => ({DRAWN})().includes(n))", arg=simulated, timeout=60_000
        )
        names = page.evaluate(DRAWN)
        assert "start" in names, names
        tops = page.evaluate(
            """() => [...document.querySelectorAll('.js-plotly-plot')]
                .map(p => p.layout.yaxis2 && p.layout.yaxis2.range[1]).filter(Boolean)"""
        )
        assert max(tops) > 3, tops  # the start to 3 nodes in view, whether they came up or not
        heading.evaluate("e => e.scrollIntoView()")
        page.mouse.wheel(0, -700)  # the nodes chart above it in view too
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "live-node-decisions.png"))
        table.evaluate("e => e.scrollIntoView()")
        cells = table.locator("table").text_content()
    assert "start w2, w3" in cells and "1 → 3" in cells, cells  # the cells run together
    assert re.search(r"\d+ queued wants 3 nodes \(ceil\(\d+ / node_target 2\) = \d+, capped", cells)
    # on a loaded host the run may end before the cooldown passed: what it decided is marked
    assert ("stop" in names) == ("stop w" in cells) and ("hold" in names) == ("hold " in cells)
    assert ("hold " in cells) <= ("(node_cooldown) wanted 3" in cells), cells
