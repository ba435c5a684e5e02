"""What a trace means: summaries, invariants, formulas, comparisons, sweeps and lessons."""
