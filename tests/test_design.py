"""DESIGN.md's scenario section is the declaration's: its field table is generated from it, and
its example scenario loads.

The table is compared as text rather than parsed: any difference (a default, a range, a unit, a
meaning) fails, and the failure prints the table to paste.
"""

from pathlib import Path

import pytest

from sim import scenario
from sim.scenario import FIELDS, TABLE_FIELDS
from sim.scenario_io import toml_value

DESIGN = Path(__file__).parent.parent / "DESIGN.md"
TABLES = {
    "| field | default | unit | allowed | meaning |": FIELDS,
    "| `[[tasks]]` field | default | unit | allowed | meaning |": TABLE_FIELDS["tasks"].values(),
    "| `[[pools]]` field | default | unit | allowed | meaning |": TABLE_FIELDS["pools"].values(),
}


def field_table(header: str) -> str:
    rows = [header, "| --- | --- | --- | --- | --- |"]
    rows += [
        f"| `{f.key}` | `{toml_value(f.default)}` | {f.unit} | {f.allowed()} | {f.meaning} |"
        for f in TABLES[header]
    ]
    return "\n".join(rows)


def design_table(header: str) -> str:
    lines = DESIGN.read_text().splitlines()
    start = lines.index(header)
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end])


@pytest.mark.parametrize("header", list(TABLES))
def test_the_field_tables_are_the_declaration(header):
    expected = field_table(header)
    assert design_table(header) == expected, f"paste this table into DESIGN.md:\n{expected}"


def test_the_example_scenario_loads():
    text = DESIGN.read_text().split("## Scenario", 1)[1]
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    sc = scenario.loads(example)
    assert sc != scenario.Scenario()  # it shows fields set, not only the defaults
