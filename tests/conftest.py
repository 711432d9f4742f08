"""Shared pytest hooks (fixtures live in helpers.py, es_server.py and the test modules)."""

from __future__ import annotations

import pytest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A class with a ``CASES`` table (see helpers.LineCases): one test per row."""
    if metafunc.function.__name__ == "test_line" and metafunc.cls is not None and hasattr(metafunc.cls, "CASES"):
        metafunc.parametrize("line, expected", metafunc.cls.CASES)


@pytest.fixture(autouse=True)
def _reap_spawned():
    """Kill what a test started with helpers.spawn() and left running."""
    yield
    from helpers import SPAWNED
    while SPAWNED:
        p = SPAWNED.pop()
        if p.poll() is None:
            p.kill()
            p.wait(10)
