"""The Celery app a live run registers: each task type's limits as Celery takes them."""

import pytest
from celery.utils.time import rate

from live.celery_app import LiveConfig, make_app
from sim import scenario

TYPES = """
[[tasks]]
name = "limited"
rate_limit = "2/s"
[[tasks]]
name = "zero"
rate_limit = {zero}
[[tasks]]
name = "free"
"""


@pytest.mark.parametrize("zero", ["0", '"0"', '"0/s"', '"0/m"'])
def test_a_rate_limit_of_0_is_registered_as_none_which_celery_reads_as_no_limit(tmp_path, zero):
    """Celery reads a rate of 0 as no limit (``rate`` is 0, and its consumer makes no token
    bucket for a 0: ``Consumer.bucket_for_task``); the task registers None, Celery's own
    none. The scenario refused it, as below the least rate."""
    path = tmp_path / "s.toml"
    path.write_text(TYPES.format(zero=zero))
    app = make_app(LiveConfig("redis://127.0.0.1:1/0", str(path), 0.5, 1, "unit"))
    limits = {name: app.tasks[f"queuelab.{name}"].rate_limit for name in ("limited", "zero")}
    assert limits == {"limited": "4/s", "zero": None}  # per wall second at time scale 0.5
    assert rate(limits["zero"]) == 0 and rate(limits["limited"]) == 4.0
    assert scenario.load(path).tasks[1].rate_limit in ("0", "0/s", "0/m")
