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
