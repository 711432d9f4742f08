"""The package type-checks: mypy (configured in pyproject.toml) reports no error.

The hot path is plain Python, but its annotations are what a reader (or a future
compiled build) trusts; this keeps them true."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_reports_no_error(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install '.[test]'")
    r = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path), "maillog2json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found" in r.stdout
