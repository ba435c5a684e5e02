"""Chart helpers whose choices a reader relies on."""

import numpy as np

from ui.charts import gantt_window


def _spans(starts, ends):
    return {"start": np.array(starts, float), "end": np.array(ends, float)}


def test_gantt_charts_share_one_window_whether_or_not_they_are_cut():
    short, long = _spans([0, 1], [2, 90]), _spans([0, 5], [3, 170])
    assert gantt_window(short, long) == 170  # both shown whole: to the end of the longer run
    many = _spans(np.arange(500), np.arange(500) + 1)
    assert gantt_window(many, long, max_bars=400) == 399  # cut where the first reaches 400 bars
