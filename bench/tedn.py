"""Times TEDn per system against the reference vectors and checks every value.

    python bench/tedn.py [--vectors PATH] [--flavor lmx|full] [--workers N]

Exits non-zero if any case differs from the reference.
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing

from acai_hf.metrics.tedn import clear_gold_cache, tedn, tedn_batch  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=Path, default=REPO_ROOT / "tests/data/tedn_vectors.jsonl")
    parser.add_argument("--flavor", choices=("lmx", "full"), default="lmx")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()

    with open(args.vectors, encoding="utf-8") as f:
        cases = [json.loads(line) for line in f if line.strip()]
    predictions = [case["pred_lmx"] for case in cases]
    golds = [case["gold_musicxml"] for case in cases]

    started = time.perf_counter()
    tedn(predictions[0], golds[0], args.flavor)  # compile (or load) the numba kernel
    print(f"warm-up (JIT) {time.perf_counter() - started:.2f} s")

    # Headline: every call prepares its gold from scratch. Then: the gold already prepared, as when
    # one gold is scored against many predictions (GRPO rollouts, successive checkpoints).
    for gold_state in ("gold prepared per call", "gold already prepared"):
        wall, cpu, mismatches = [], [], []
        for case, prediction, gold in zip(cases, predictions, golds):
            if gold_state == "gold prepared per call":
                clear_gold_cache()
            started, started_cpu = time.perf_counter(), time.process_time()
            result = tedn(prediction, gold, args.flavor)
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            expected = case[f"tedn_{args.flavor}"]
            if (
                (result.edit_cost, result.gold_cost) != (expected["edit_cost"], expected["gold_cost"])
                or abs(result.value - expected["value"]) > 1e-9
            ):
                mismatches.append(case["id"])

        print(f"{len(cases)} systems, flavor {args.flavor}, single process, {gold_state}, ms per system:")
        # CPU time as well, since wall time swells on a shared machine
        for clock, seconds in (("wall", wall), ("cpu", cpu)):
            ms = [s * 1000 for s in seconds]
            p90 = statistics.quantiles(ms, n=10)[-1]
            print(f"  {clock:4s} median {statistics.median(ms):.1f}, p90 {p90:.1f}, max {max(ms):.1f}")
        print(f"  matching the reference: {len(cases) - len(mismatches)}/{len(cases)}")
        if mismatches:
            break
    if mismatches:
        print(f"  MISMATCHES: {' '.join(mismatches)}")

    for workers in (args.workers, 1):
        clear_gold_cache()  # forked workers would inherit prepared golds
        started = time.perf_counter()
        tedn_batch(predictions, golds, args.flavor, workers=workers)
        elapsed = time.perf_counter() - started
        print(f"tedn_batch, {workers} worker(s): {len(cases) / elapsed:.0f} systems/s ({elapsed:.2f} s)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
