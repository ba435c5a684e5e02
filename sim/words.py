"""How queuelab writes a count for a person, in the CLI, the app and its errors alike."""


def counted(n: int, noun: str) -> str:
    """A count with its noun, singular for one: "1 worker", "4 workers"."""
    return f"{n} {noun}{'s' * (n != 1)}"
