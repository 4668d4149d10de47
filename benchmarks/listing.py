"""Time to list every variant in a fresh interpreter, and proof that it imports no torch.

python benchmarks/listing.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys

CHILD = """
import sys, time
start = time.perf_counter()
from tt_forge_models import list_variants
entries = [(e.id, e.info.name, e.config.num_params) for e in list_variants()]
elapsed = time.perf_counter() - start
heavy = [m for m in ("torch", "transformers", "timm", "torchvision") if m in sys.modules]
print(len(entries), elapsed, ",".join(heavy) or "-")
"""


def main(runs: int = 7) -> None:
    times, wall = [], []
    import time

    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
        wall.append(time.perf_counter() - start)
        count, elapsed, heavy = out.split()
        times.append(float(elapsed))
    print(f"variants listed: {count}; heavy modules imported: {heavy}")
    print(f"import + list, in process: median {statistics.median(times) * 1000:.1f} ms (target < 300 ms)")
    print(f"whole fresh interpreter:   median {statistics.median(wall) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
