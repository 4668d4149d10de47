"""The consumer example in docs/ runs as written, the way a frontend would run it."""

import subprocess
import sys

from helpers import REPO


def test_documented_consumer_example_passes(tmp_path):
    # A copy, run from its own folder, as it would sit in a frontend's suite.
    example = tmp_path / "test_example_consumer.py"
    example.write_text((REPO / "docs" / "example_consumer_test.py").read_text())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(example),
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "resnet18",
            "--rootdir",
            str(tmp_path),
            "-W",
            "ignore",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
