"""Small helpers shared by the test modules (not part of the package)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

#: the tests folder (this file's) and the repository root above it
TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def run_python(
    code: str, *, cwd: Path | None = None, env: dict | None = None, timeout: int = 300, python: str = sys.executable
) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter; fail with its output when it exits non-zero."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [python, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc
