"""`queuelab SUBCOMMAND --help` as a newcomer reads it: every option says what it does."""

import argparse

import pytest

from queuelab.parser import build_parser


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_option_of_every_subcommand_says_what_it_does(name):
    silent = [
        a.option_strings[0] for a in subcommands()[name]._actions if a.option_strings and not a.help
    ]
    assert silent == []


def test_lessons_json_says_the_list_is_an_array():
    parser = subcommands()["lessons"]
    json_flag = next(a for a in parser._actions if "--json" in a.option_strings)
    assert "array" in json_flag.help


def test_live_says_what_a_task_costs_this_host_as_host_cpu_measured_it():
    """It said Celery moves about 1,000 no-op tasks/s on 2 cores (~1 ms a task), where this
    host measured 10 ms of CPU a task (live.host_cpu) and a delivery and hand-over of 2-3 ms."""
    from live.host_cpu import CPU_PER_TASK

    said = " ".join(subcommands()["live"].description.split())
    assert f"about {CPU_PER_TASK * 1000:.0f} ms of CPU a task" in said
    assert "1,000 no-op" not in said


def test_the_usage_is_one_short_line_and_each_subcommand_is_listed_once_with_its_help():
    """argparse's default wrote every subcommand in a set on the usage line and again at the
    head of their list, so `queuelab --help` named each one twice before saying what it does."""
    parser = build_parser()
    assert parser.format_usage() == "usage: queuelab [-h] COMMAND ...\n"
    shown = parser.format_help()
    assert "{" not in shown
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    words = " ".join(shown.split())
    for choice in action._choices_actions:  # each subcommand's name and help
        assert [line.split()[:1] for line in shown.splitlines()].count([choice.dest]) == 1
        assert f"{choice.dest} {choice.help}" in words, choice.dest
