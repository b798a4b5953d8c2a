"""Run every benchmark script in this folder, one after the other (`make bench`).

Each benchmark measures the project's code against a plain baseline *in the same run* and
prints ratios; none of them asserts a time. See docs/performance.md for recorded figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    # The generator benchmark reuses the tests' plausible-metadata builder.
    env = {**os.environ, "PYTHONPATH": str(here.parent)}
    failures = 0
    for script in sorted(here.glob("bench_*.py")):
        print(f"\n=== {script.name} ===", flush=True)
        failures += subprocess.call([sys.executable, str(script)], cwd=here.parent, env=env) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
