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


def run_ranks(worker: str, *, world_size: int = 2, timeout: int = 240) -> list[dict]:
    """Run ``worker`` (Python source) in ``world_size`` processes that form a gloo group on the
    loopback (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``PORT`` set); each prints one line
    ``RESULT <json>``. Fails with a rank's output when it exits non-zero; never leaves a rank
    waiting on a dead peer. Returns the reports, by rank."""
    import json
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "WORLD_SIZE": str(world_size),
        "OMP_NUM_THREADS": "1",
        "GLOO_SOCKET_IFNAME": "lo",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", worker],
            env={**env, "RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(world_size)
    ]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, f"rank exited {proc.returncode}\n{out}\n{err[-4000:]}"
            outputs.append(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    lines = [next(ln for ln in out.splitlines() if ln.startswith("RESULT ")) for out in outputs]
    return [json.loads(line.removeprefix("RESULT ")) for line in lines]
