"""Systems per second of the data engine: a whole build (train + dev, default mix) on 2 workers.

    python bench/data_engine.py [--systems 600] [--workers 2] [--seed 0]

End to end: worker start-up, piece generation or corpus loading, engraving, rasterising, slicing,
checks, the engraver's geometry of every token (training/data/token_geometry.py) and parquet writing
all count. The target on this machine is at least 25 systems/s. Other jobs on the same cores slow it
down, so the CPU time per system is printed too.
"""
import argparse
import sys
import resource
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from training.data.build import BuildConfig, build  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", type=int, default=600)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = BuildConfig(systems=args.systems, seed=args.seed, test_pieces=0)
    with tempfile.TemporaryDirectory(prefix="acai-bench-data-") as folder:
        start, cpu_start = time.perf_counter(), cpu_seconds()
        counts = build(Path(folder), config, workers=args.workers)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    systems = counts["train"] + counts["dev"]
    print(f"{systems} systems in {seconds:.1f} s with {args.workers} workers: {systems / seconds:.1f} systems/s")
    print(f"CPU {1000 * cpu / systems:.0f} ms per system: {args.workers * systems / cpu:.1f} systems/s on free cores")


def cpu_seconds() -> float:
    """User + system time of this process and its finished children (the workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
