"""Each shipped lesson moves its figure the way it says, and by a useful amount."""

import numpy as np
import pytest

from sim import scenario
from sim.analysis.cost import processes_over_time
from sim.analysis.groups import GROUP_FIGURES
from sim.analysis.lessons import (
    LESSONS,
    all_lessons,
    figures,
    load,
    named,
    split_figure,
    tasks_of,
)
from sim.analysis.metrics import first_time, last_terminal, lost_tasks, sojourns, waits
from sim.engine.model import simulate
from sim.rules.states import FAILURE, PENDING, STARTED
from sim.scenario import ScenarioError
from tests.sim.helpers import crashing_tasks


def lesson(name):
    return load(LESSONS / f"{name}.toml")


def test_every_lesson_loads_and_its_fix_moves_its_figure_the_stated_way():
    lessons = all_lessons()
    assert [each.name[:2] for each in lessons] == [f"{i:02d}" for i in range(1, 19)]
    for each in lessons:
        default, fixed = each.run()
        a, b = default[each.figure], fixed[each.figure]
        assert (b < a) if each.better == "lower" else (b > a), each.name


def test_prefetch_one_with_late_ack_cuts_the_p99_wait_at_least_in_half():
    default, fixed = lesson("01_prefetch").run()
    assert fixed["wait_p99"] <= default["wait_p99"] / 2


def test_multiplier_one_under_early_ack_still_holds_tasks_back():
    default, fixed = lesson("02_multiplier_one").run()
    assert default["wait_p99"] >= 1.5 * fixed["wait_p99"]


def test_countdown_past_the_visibility_timeout_runs_every_retry_at_least_twice():
    each = lesson("03_visibility_timeout")
    trace = simulate(each.scenario)
    retried = (trace.state == STARTED) & (trace.attempt == 1)
    runs = np.bincount(trace.task[retried])
    assert runs[runs > 0].min() >= 2
    _, fixed = each.run()
    assert fixed["duplicate_executions"] == 0


def test_capped_backoff_gives_up_inside_the_outage_and_spaced_retries_outlast_it():
    each = lesson("08_backoff_cap")
    capped = simulate(each.scenario)
    # 3 retries, each countdown ≤ 600 s, plus the work and a little queueing
    assert sojourns(capped).max() <= 3 * 600 + 120
    default, fixed = each.run()
    assert default["tasks_failed"] >= 10 * max(fixed["tasks_failed"], 1)
    assert fixed["duplicate_executions"] == 0  # a cap past the visibility timeout ran 42 twice
    outage = each.scenario.failures.outage[0]
    failed_at = capped.t[capped.state == FAILURE]
    assert np.all((failed_at >= outage.start) & (failed_at < outage.end))


def test_a_deploy_grace_shorter_than_a_task_loses_it_and_strands_what_its_worker_reserved():
    each = lesson("05_rolling_deploy")
    default, fixed = each.run()
    assert default["tasks_lost"] >= 5 and fixed["tasks_lost"] == 0
    # a killed worker gives nothing back: what it reserved waits out the visibility timeout
    timeout = each.scenario.ack.visibility_timeout
    assert (sojourns(simulate(each.scenario)) > timeout).sum() >= 5
    assert sojourns(simulate(each.fixed())).max() < timeout
    # under late ack nothing is lost, but the killed tasks come back that hour late too
    late = each.scenario.replace(**{"ack.late": True})
    assert figures(late)["tasks_lost"] == 0
    assert (sojourns(simulate(late)) > timeout).sum() >= default["tasks_lost"] + 5


def test_concurrency_past_the_cores_leaves_throughput_where_it_was():
    each = lesson("10_concurrency_vs_cores")
    default, fixed = each.run()
    four = figures(each.scenario.replace(**{"workers.concurrency": 4}))
    cores = each.scenario.workers.cores
    mean = each.scenario.service.mean
    assert default["throughput"] == pytest.approx(cores / mean, rel=0.05)
    assert four["throughput"] == pytest.approx(default["throughput"], rel=0.05)
    assert fixed["throughput"] == pytest.approx(4 * default["throughput"], rel=0.05)


def test_a_lesson_file_is_also_a_plain_scenario():
    sc = scenario.load(LESSONS / "01_prefetch.toml")
    assert sc.workers.prefetch_multiplier == 4


def test_a_lesson_without_its_table_is_refused(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text("[workers]\ncount = 2\n")
    with pytest.raises(ScenarioError, match=r"\[lesson\]"):
        load(path)
    path.write_text('[lesson]\ntitle = "t"\nstory = "s"\nfigure = "speed"\n[lesson.fix]\n')
    with pytest.raises(ScenarioError, match="not a summary figure"):
        load(path)


def test_result_memory_is_rate_times_size_times_expires():
    each = lesson("09_result_expires")
    sc = each.scenario
    default, fixed = each.run()
    expected = sc.arrivals.rate * sc.results.size * sc.results.expires
    assert default["result_memory_peak"] == pytest.approx(expected, rel=0.05)
    assert default["result_memory_peak"] / fixed["result_memory_peak"] == pytest.approx(
        sc.results.expires / each.fixed().results.expires, rel=0.1
    )


def test_track_started_shows_waiting_and_running_apart():
    each = lesson("07_track_started")
    default, fixed = each.run()
    # untracked, a task looks PENDING for its whole sojourn; tracked, only while it waits
    assert default["backend_pending_mean"] == pytest.approx(default["sojourn_mean"], rel=0.01)
    assert fixed["backend_pending_mean"] == pytest.approx(fixed["wait_mean"], rel=0.01)
    assert fixed["backend_pending_mean"] < default["backend_pending_mean"] / 2


def test_a_task_lost_under_early_ack_answers_pending_for_ever():
    default, fixed = lesson("06_pending_means_unknown").run()
    assert default["tasks_lost"] >= 10 and fixed["tasks_lost"] == 0


def test_a_dead_child_fails_its_task_under_late_ack_unless_rejected_on_worker_lost():
    each = lesson("04_child_death")
    default, fixed = each.run()
    crashed = len(crashing_tasks(each.scenario))
    assert default["tasks_failed"] == crashed > 30  # every child death is a FAILURE
    assert fixed["tasks_failed"] == 0 and fixed["tasks_lost"] == 0  # requeued and rerun
    assert fixed["executions"] > fixed["tasks_submitted"]


def test_a_lesson_live_table_is_checked(tmp_path):
    path = tmp_path / "x.toml"
    head = (
        '[lesson]\ntitle = "t"\nstory = "s"\nfigure = "wait_p99"\n[lesson.fix]\n"ack.late" = true\n'
    )
    path.write_text(head + "[lesson.live]\ntime_scale = 0.05\n")
    with pytest.raises(ScenarioError, match=r"\[lesson.live\] needs time_scale"):
        load(path)
    path.write_text(head + "[lesson.live]\ntime_scale = 0\ntasks = 10\n")
    with pytest.raises(ScenarioError, match="time_scale must be > 0"):
        load(path)
    path.write_text(head)
    with pytest.raises(ScenarioError, match="simulated only"):
        load(path).live_scenarios()


def test_a_killed_node_with_prefetch_room_loses_messages_even_under_late_ack():
    """The message a dead node's lingering BRPOP took was never received, so late ack cannot
    bring it back; with no prefetch room while its one slot runs, no BRPOP waits."""
    each = lesson("11_killed_node_takes_a_message")
    trace = simulate(each.scenario)
    lost = lost_tasks(trace)
    assert sum(map(len, lost.values())) >= 5
    assert set(lost) <= {"never reached a worker", "reserved by a worker, never started"}
    _, fixed = each.run()
    assert fixed["tasks_lost"] == 0


def test_routing_the_long_tasks_cuts_the_short_tasks_p99_wait_past_what_prefetch_one_does():
    """Prefetch 1 + late ack (lesson 01's fix) still lets a short task wait for a worker busy
    with a long one; a pool of their own for the long tasks does not."""
    each = lesson("12_route_long_tasks")
    default, routed = each.run()
    prefetch_one = figures(
        each.scenario.replace(**{"workers.prefetch_multiplier": 1, "ack.late": True})
    )
    short = "by_task.short.wait_p99"
    assert routed[short] <= default[short] / 20
    assert routed[short] <= prefetch_one[short] / 5
    assert routed["by_pool.slow.executions"] == routed["by_task.long.tasks"]
    # the price: the long tasks queue for their own two workers, still well under their minute
    assert default["by_task.long.wait_mean"] < routed["by_task.long.wait_mean"] < 30


def test_prefetch_defeats_priority_and_prefetch_one_with_late_ack_restores_it():
    default, fixed = lesson("13_priority_behind_prefetch").run()
    # reserved bulk tasks run first: urgent ones wait nearly as long as bulk ones
    assert default["by_task.urgent.wait_mean"] >= 0.7 * default["by_task.bulk.wait_mean"]
    assert fixed["by_task.urgent.wait_mean"] <= fixed["by_task.bulk.wait_mean"] / 4
    assert fixed["by_task.urgent.wait_p99"] <= default["by_task.urgent.wait_p99"] / 4


def test_rate_limited_requests_hold_the_other_tasks_back_until_routed_away():
    each = lesson("14_rate_limit_blocks_others")
    default, routed = each.run()
    email = "by_task.email.wait_p99"
    assert default[email] >= 5.0 and routed[email] <= 0.5  # seconds: 0.5 s emails
    # a window of four instead of one: held charges block less, but still some
    four = figures(each.scenario.replace(**{"workers.prefetch_multiplier": 4, "ack.late": False}))
    assert routed[email] < four[email] < default[email]


def test_a_sorted_queue_order_starves_the_later_queue_and_round_robin_shares():
    default, fixed = lesson("15_sorted_queue_starves").run()
    web, batch = "by_queue.web.wait_mean", "by_queue.batch.wait_mean"
    assert default[web] >= 3 * default[batch]  # batch is asked first, every time
    assert fixed[web] <= default[web] / 3
    assert fixed["by_queue.web.wait_p99"] <= default["by_queue.web.wait_p99"] / 3


def test_autoscale_grows_on_reserved_tasks_and_a_steady_stream_never_lets_it_shrink():
    """The pool climbs to MAX with no backlog in Redis and stays there while messages keep
    coming; MAX is what the run pays for, whatever the multiplier."""
    each = lesson("16_autoscale_counts_reserved")
    sc = each.scenario
    trace = simulate(sc)
    t, level = processes_over_time(trace.capacity)
    top = sc.workers.autoscale_max
    reached = t[np.argmax(level == top)]
    last_arrival = np.nanmax(first_time(trace, PENDING))
    assert level.max() == top and reached < 0.3 * last_arrival
    assert np.all(level[(t >= reached) & (t <= last_arrival)] == top)  # never shrinks
    default, fixed = each.run()
    assert default["wait_p95"] < 0.1  # grown on reserved tasks, not a queue in Redis
    assert default["worker_seconds"] >= 0.9 * top * default["makespan"]
    assert fixed["worker_seconds"] <= 0.6 * default["worker_seconds"]
    assert fixed["sojourn_p95"] <= default["sojourn_p95"] + 1.0  # seconds, on 2 s tasks
    one = figures(sc.replace(**{"workers.prefetch_multiplier": 1}))
    assert one["worker_seconds"] == pytest.approx(default["worker_seconds"])  # window >= MAX


def added_nodes(sc) -> int:
    """Nodes a node autoscaler started beyond the pool's count."""
    return len({row[1] for row in simulate(sc).capacity}) - sc.workers.count


def test_a_short_node_cooldown_flaps_a_long_one_pays_idle_nodes_and_a_floor_beats_both():
    each = lesson("17_node_cooldown_flaps")
    default, fixed = each.run()
    assert fixed["sojourn_p95"] <= 0.6 * default["sojourn_p95"]
    assert added_nodes(each.scenario) >= 3 * added_nodes(each.fixed())
    assert fixed["node_seconds"] >= 1.5 * default["node_seconds"]  # holding idle nodes
    floor = figures(each.scenario.replace(**{"workers.min_nodes": 2, "workers.count": 2}))
    assert floor["sojourn_p95"] < fixed["sojourn_p95"]
    assert floor["node_seconds"] < default["node_seconds"]


def test_nodes_that_start_after_the_burst_change_nothing_but_the_bill():
    each = lesson("18_node_start_after_burst")
    sc = each.scenario
    default, fixed = each.run()
    alone = figures(sc.replace(**{"workers.node_autoscaler": "none"}))
    assert default["sojourn_p95"] == pytest.approx(alone["sojourn_p95"], rel=1e-3)
    assert default["node_seconds"] >= 3 * alone["node_seconds"]
    # the first added node comes up after the first burst has ended
    trace = simulate(sc)
    first_burst = first_time(trace, PENDING) == 0.0
    up = min(row[0] for row in trace.capacity if row[2] and row[1] != "w1")
    assert np.nanmax(last_terminal(trace)[0][first_burst]) < up
    assert fixed["sojourn_p95"] <= 0.7 * default["sojourn_p95"]
    assert fixed["node_seconds"] < default["node_seconds"]


def test_figures_give_every_task_type_queue_and_pool_its_own():
    each = lesson("12_route_long_tasks")
    got = figures(each.fixed())
    names = {
        "by_task": ("short", "long"),
        "by_queue": ("celery", "slow"),
        "by_pool": ("fast", "slow"),
    }
    grouped = {k for k in got if split_figure(k)[0]}
    assert grouped == {
        f"{kind}.{name}.{field}"
        for kind, fields in GROUP_FIGURES.items()
        for name in names[kind]
        for field in fields
    }
    assert not any(isinstance(v, dict) for v in got.values())
    assert got["by_task.short.tasks"] + got["by_task.long.tasks"] == got["tasks_submitted"]


def test_a_figure_names_its_task_type_queue_or_pool_and_names_may_hold_dots():
    assert split_figure("by_task.short.wait_p99") == ("by_task", "short", "wait_p99")
    assert split_figure("by_queue.a.b.queue_len_max") == ("by_queue", "a.b", "queue_len_max")
    assert split_figure("wait_p99") == ("", "", "wait_p99")
    each = lesson("12_route_long_tasks")
    trace = simulate(each.scenario)
    short = tasks_of("by_task.short.wait_p99", trace)
    assert short.sum() == figures(each.scenario, trace)["by_task.short.tasks"]
    assert np.percentile(waits(trace, short), 99) == pytest.approx(
        figures(each.scenario, trace)["by_task.short.wait_p99"]
    )
    assert tasks_of("wait_p99", trace).all()


@pytest.mark.parametrize(
    ("figure", "message"),
    [
        ("by_task.nosuch.wait_p99", "as deployed has no 'nosuch' in by_task: short, long"),
        ("by_pool.fast.utilization", "as deployed has no 'fast' in by_pool: workers"),
        ("by_queue.slow.wait_p99", "as deployed has no 'slow' in by_queue: celery"),
        ("by_pool.workers.utilization", "with the fix has no 'workers' in by_pool: fast, slow"),
        ("by_task.short.speed", "by_task has tasks, wait_mean"),
        ("by_task", "not a summary figure"),
    ],
)
def test_a_per_type_figure_must_exist_on_both_sides(tmp_path, figure, message):
    text = (LESSONS / "12_route_long_tasks.toml").read_text()
    path = tmp_path / "x.toml"
    path.write_text(text.replace('"by_task.short.wait_p99"', f'"{figure}"'))
    with pytest.raises(ScenarioError, match=message):
        load(path)


def test_a_live_lessons_simulation_pays_celerys_wall_clock_costs_at_its_time_scale():
    """As compare simulates a live run: a 5 ms delivery is 0.1 scenario seconds at 0.05."""
    each = load(LESSONS / "01_prefetch.toml")
    for simulated, live in zip(each.live_simulated(), each.live_scenarios(), strict=True):
        assert simulated.overhead.delivery == live.overhead.delivery / each.live.time_scale > 0
        assert simulated.run == live.run and simulated.workers.count == live.workers.count


def test_a_lesson_is_named_by_its_name_or_the_start_of_it_alone():
    """17 is 17_node_cooldown_flaps (its number: the command took whole names only); 1 begins
    nine names, and an unknown or empty one names none: each error lists the lessons."""
    lessons = all_lessons()
    for given in ("17", "17_node", "17_node_cooldown_flaps", "17_node_cooldown_flaps.toml"):
        assert named(given, lessons).name == "17_node_cooldown_flaps"
    assert named("01", lessons).name == "01_prefetch"
    with pytest.raises(LookupError, match="'1' begins 9 lessons' names, 10_concurrency_vs_cores"):
        named("1", lessons)
    for unknown in ("99", "", "7"):
        with pytest.raises(LookupError, match=f"no lesson {unknown!r}: the lessons are 01_pre"):
            named(unknown, lessons)
