"""Run every benchmark script in this folder, one after the other (`make bench`).

Each benchmark measures the project's code against a plain baseline *in the same run* and
prints ratios; none of them asserts a time. See docs/performance.md for recorded figures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    failures = 0
    for script in sorted(here.glob("bench_*.py")):
        print(f"\n=== {script.name} ===", flush=True)
        failures += subprocess.call([sys.executable, str(script), *sys.argv[1:]]) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
