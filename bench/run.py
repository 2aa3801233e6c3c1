"""`make bench`: run every benchmark script in bench/ (bench_*.py) and print their results.

Benchmarks measure; they never assert on time. Method and results are written up in
docs/benchmarks.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Arguments `make bench` gives a script instead of its defaults: a shorter, bounded run. The
#: chart-page bench builds 100,000 patients and 10 million vitals by default (tens of minutes per
#: engine); here it runs at a tenth of that. Full size: ``python bench/bench_chart_page.py``
#: (docs/benchmarks.md).
BOUNDED = {
    "bench_chart_page.py": ["--patients", "10000", "--vitals", "1000000"],
    # 20 s of load instead of 60 (the seeding, about 3 minutes, is the same).
    "bench_load.py": ["--duration", "20"],
}


def main() -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if not scripts:
        print("no benchmarks in bench/")
        return 0
    failed = 0
    for script in scripts:
        print(f"== {script.name} ==", flush=True)
        result = subprocess.run([sys.executable, str(script), *BOUNDED.get(script.name, [])], check=False)
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
