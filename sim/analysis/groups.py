"""A run's figures per task type, per queue and per pool of workers: the summary's
``by_task``, ``by_queue`` and ``by_pool``, from the trace the same way for every engine."""

from __future__ import annotations

import numpy as np

from sim.analysis.metrics import Tally, after, busy_share, latency_stats, step_counts


def _latency(values: np.ndarray) -> dict[str, float]:
    mean, p50, p95, p99 = latency_stats(values[~np.isnan(values)])
    return {"mean": mean, "p50": p50, "p95": p95, "p99": p99}


_LATENCY = tuple(
    f"{kind}_{q}" for kind in ("wait", "sojourn") for q in ("mean", "p50", "p95", "p99")
)
GROUP_FIGURES = {  # the figures by_group gives each task type, queue and pool
    "by_task": ("tasks", *_LATENCY, "throughput"),
    "by_queue": ("tasks", *_LATENCY, "throughput", "queue_len_mean", "queue_len_max"),
    "by_pool": ("slots", "executions", "utilization"),
}


def _group(
    members: np.ndarray,
    wait: np.ndarray,
    sojourn: np.ndarray,
    kept: np.ndarray,
    ended: np.ndarray,
    span: float,
) -> dict[str, float]:
    """Figures of the tasks ``members`` (a mask over task indices): latencies of those ``kept``
    (submitted after the warm-up), throughput of those ``ended`` after it."""
    w, s = _latency(wait[members & kept]), _latency(sojourn[members & kept])
    ended = int(np.count_nonzero(members & ended))
    return {
        "tasks": int(np.count_nonzero(members)),
        **{f"wait_{k}": v for k, v in w.items()},
        **{f"sojourn_{k}": v for k, v in s.items()},
        "throughput": ended / span if span > 0 else 0.0,
    }


def by_group(
    run: Tally,
    pools: dict[str, tuple[list[int], int]] | None = None,
    warmup: float = 0.0,
    alive: dict[str, float] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Figures per task type, per queue (with its queue length) and per pool of workers
    (``pools``: name → (worker indices, slots)), for the summary's ``by_task``, ``by_queue``
    and ``by_pool``; after a ``warmup`` as ``metrics.summarize``, a pool in ``alive`` (its
    capacity varies) busy over the slot-seconds it had. ``run``: the run's ``Tally``."""
    makespan = run.makespan
    span = makespan - warmup
    pending, started, end = run.pending, run.started, run.end
    wait, sojourn = started - pending, end - pending
    kept, ended = pending >= warmup, end >= warmup
    kind = run.type_of
    by_task = {
        name: _group(kind == i, wait, sojourn, kept, ended, span)
        for i, (name, _) in enumerate(run.types)
    }
    by_queue = {}
    for queue in dict.fromkeys(q for _, q in run.types):
        members = np.isin(kind, [i for i, (_, q) in enumerate(run.types) if q == queue])
        figures = _group(members, wait, sojourn, kept, ended, span)
        came = pending[members & ~np.isnan(pending)]
        left = started[members & ~np.isnan(started)]
        _, level = step_counts(came, left)
        queued = after(np.where(np.isnan(started), makespan, started), warmup) - after(
            pending, warmup
        )
        figures["queue_len_mean"] = float(np.nansum(queued[members])) / span if span > 0 else 0.0
        figures["queue_len_max"] = float(level.max()) if len(level) else 0.0
        by_queue[queue] = figures
    spans = run.spans
    by_pool, alive = {}, alive or {}
    for name, (workers, slots) in (pools or {}).items():
        mine = np.isin(spans["worker"], workers)
        busy = float(
            (after(spans["end"][mine], warmup) - after(spans["start"][mine], warmup)).sum()
        )
        if name in alive:
            share = busy_share(busy, slots, 0.0, alive[name])
        else:
            share = busy / slots / span if span > 0 and slots else 0.0
        by_pool[name] = {
            "slots": slots,
            "executions": int(run.starts_by_worker[workers].sum()),
            "utilization": share,
        }
    return {"by_task": by_task, "by_queue": by_queue, "by_pool": by_pool}
