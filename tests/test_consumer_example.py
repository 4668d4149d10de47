"""The consumer example in docs/ runs as written, the way a frontend would run it."""

import subprocess
import sys

from helpers import REPO


def test_documented_consumer_example_passes(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "docs" / "example_consumer_test.py"), "-q",
         "-p", "no:cacheprovider", "-k", "resnet18", "--rootdir", str(tmp_path), "-W", "ignore"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
