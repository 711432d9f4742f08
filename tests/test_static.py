"""Static checks: the package type-checks (mypy) and the code lints clean (ruff), both
configured in pyproject.toml.

The hot path is plain Python, but its annotations are what a reader (or a future
compiled build) trusts; the lint rules are the ones that catch bugs, not style."""

from __future__ import annotations

import shutil
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


def test_ruff_reports_no_error() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is in the test extra: pip install '.[test]'")
    r = subprocess.run([ruff, "check", "--no-cache", "maillog2json", "tests", "bench", "tools"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
