"""Celery's rules as pure functions, shared by the engine, live mode, invariants and tests."""
