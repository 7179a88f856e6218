"""Benchmark the report stage on a synthetic week of N documents (default 20,000).

Builds the stage's input tables with the generator the report tests use, writes them to a temp
project, and times `report.run` for one week and for a three-week period. A benchmark, not a
test: it asserts nothing. Run it alone on a quiet machine.

    python scripts/bench_report.py [--docs 20000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_report import synthetic_tables, write_tables  # noqa: E402

from pipeline import report  # noqa: E402
from pipeline.config import Params  # noqa: E402
from pipeline.paths import Paths  # noqa: E402

WEEKS = ["2026-W12", "2026-W13", "2026-W14"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20_000, help="documents per week")
    args = ap.parse_args()
    tables = synthetic_tables(args.docs * len(WEEKS), WEEKS)
    with tempfile.TemporaryDirectory() as tmp:
        paths = Paths(Path(tmp))
        write_tables(paths, tables)
        start = time.perf_counter()
        report.run(Params(), paths, week=WEEKS[-1])
        weekly = time.perf_counter() - start
        start = time.perf_counter()
        report.run(Params(), paths, week_from=WEEKS[0], week_to=WEEKS[-1])
        period = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"documents per week: {args.docs} ({len(tables['documents'])} in all)")
    print(f"weekly report: {weekly:.1f} s; 3-week period report: {period:.1f} s")
    print(f"peak RSS: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
