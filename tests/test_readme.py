"""The README's property-testing example runs as written."""

from pathlib import Path


def test_readme_policy_example_runs():
    text = (Path(__file__).parent.parent / "README.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_")]
    assert len(tests) == 1
    tests[0]()  # Hypothesis runs its examples; raises if the property fails
