"""DESIGN.md's scenario section is the declaration's: its field table is generated from it, and
its example scenario loads.

The table is compared as text rather than parsed: any difference (a default, a range, a unit, a
meaning) fails, and the failure prints the table to paste.
"""

from pathlib import Path

from sim import scenario
from sim.scenario import FIELDS
from sim.scenario_io import toml_value

DESIGN = Path(__file__).parent.parent / "DESIGN.md"
HEADER = "| field | default | unit | allowed | meaning |"


def field_table() -> str:
    rows = [HEADER, "| --- | --- | --- | --- | --- |"]
    rows += [
        f"| `{f.key}` | `{toml_value(f.default)}` | {f.unit} | {f.allowed()} | {f.meaning} |"
        for f in FIELDS
    ]
    return "\n".join(rows)


def design_table() -> str:
    lines = DESIGN.read_text().splitlines()
    start = lines.index(HEADER)
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end])


def test_the_field_table_is_the_declaration():
    expected = field_table()
    assert design_table() == expected, f"paste this table into DESIGN.md:\n{expected}"


def test_the_example_scenario_loads():
    text = DESIGN.read_text().split("## Scenario", 1)[1]
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    sc = scenario.loads(example)
    assert sc != scenario.Scenario()  # it shows fields set, not only the defaults
