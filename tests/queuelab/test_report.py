"""What the command prints, checked on the printing itself: the progress shown on stderr."""

import io
import sys

from queuelab.report import ProgressBar, table


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def drive(monkeypatch, stderr: io.StringIO, ticks: list[tuple[float, int]]) -> str:
    """What a ProgressBar writes to ``stderr`` when called with ``done`` of 10000 at each time."""
    monkeypatch.setattr(sys, "stderr", stderr)
    clock = Clock()
    bar = ProgressBar("simulating", clock=clock)
    for now, done in ticks:
        clock.now = now
        bar(done, 10000)
    bar.close()
    return stderr.getvalue()


def test_progress_off_a_terminal_is_a_plain_line_every_ten_seconds(monkeypatch):
    ticks = [(1, 1000), (4.9, 2000), (5, 4000), (9, 5000), (14.9, 6000), (15, 7000), (40, 9000)]
    assert drive(monkeypatch, io.StringIO(), ticks) == (
        "simulating: 4000/10000 tasks (40%)\n"
        "simulating: 7000/10000 tasks (70%)\n"
        "simulating: 9000/10000 tasks (90%)\n"
    )
    assert drive(monkeypatch, io.StringIO(), [(0.5, 5000), (4.9, 10000)]) == ""  # a short run


def test_progress_on_a_terminal_is_one_bar_redrawn_in_place(monkeypatch):
    shown = drive(monkeypatch, Terminal(), [(0.5, 1000), (1, 4000), (2, 5000)])
    assert shown.split("\r")[1:] == [
        "simulating [############..................] 4000/10000",
        "simulating [###############...............] 5000/10000\n",
    ]


class Gone(Terminal):
    """A stream whose reader has gone: a closed terminal (EIO), a pipe no one reads (EPIPE)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_progress_whose_stream_is_gone_stops_and_does_not_raise(monkeypatch):
    """The bar is called from a live run's collecting thread, which a failed write ended: the
    run then read no more rows, and its drain counted the queue's tail lost (``2>&1 | head``).
    Closed once its stream is gone, it raised as well, before the run's trace was written."""
    stream = Gone()
    drive(monkeypatch, stream, [(1, 1000), (2, 2000)])
    assert stream.getvalue() == ""


def test_compare_keeps_its_columns_under_a_long_task_name():
    """A recording's task types carry Celery's dotted names ("shop.render_pdf.sojourn_mean" is
    28 characters): each row's figures stand under their headings, as the short names' do."""
    from queuelab.report import comparison_text
    from sim.analysis.compare import compare
    from sim.engine.model import simulate
    from sim.scenario import loads

    sc = loads(
        '[run]\ntasks = 200\n[[tasks]]\nname = "shop.render_pdf"\nqueue = "pdf"\n'
        '[[tasks]]\nname = "e"\n[[pools]]\nname = "p"\nqueues = ["pdf", "celery"]\n'
    )
    trace = simulate(sc)
    text = comparison_text(compare(sc, trace, trace))
    header, *rows = text[: next(i for i, line in enumerate(text) if line.startswith("\n"))]
    assert any(row.startswith("shop.render_pdf.sojourn_mean") for row in rows)
    end = header.index("live") + len("live")  # where the live column's figures end
    assert all(row[end] == " " and row[end - 1] != " " for row in rows), rows


def test_a_figure_near_1_shows_the_digits_that_tell_it_from_1():
    """``analytic --rate 0.999999`` printed utilization 1 and p_wait 1 beside a mean wait of
    999,999: a figure four digits round to 1 shows as many as it takes; 1 and 0 stay short."""
    lines = table(
        {"utilization": 0.999999, "over": 1.00002, "one": 1.0, "zero": 0.0, "small": 1e-9}
    ).splitlines()
    assert [line.split()[1] for line in lines] == ["0.999999", "1.00002", "1", "0", "1e-09"]
