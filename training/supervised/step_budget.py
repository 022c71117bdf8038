"""How long a run fits in a wall-clock budget: total steps and --max-minutes for `training.supervised.train --resume`.

    python -m training.supervised.step_budget RUN --seconds S --calibration-seconds C [--eval-every E --eval-seconds X]
                                   [--max-steps M] [--start RUN/stable]
    -> prints "TOTAL_STEPS MAX_MINUTES" (and how it got them on stderr)

The pace comes from RUN/train.csv: a short calibration run's, or the run's own log, where only its last stretch
at today's global batch counts (its second half: the first steps are fed from batches the data workers
made ahead, and warm-up kernels are slow). The cosine schedule is a function
of step / total steps, so a total that matches the time left lets the learning rate reach its floor just
as the time runs out, where a guessed total would stop it half-way (too many steps) or waste the machine
(too few). `--max-minutes` remains the hard stop if the pace changes. A WSD run (--decay-steps) lengthened
from its plateau starts at RUN/stable's step, not at the last logged one: `--start RUN/stable`.
"""
import argparse
import csv
import math
import sys
from pathlib import Path

from training.run.checkpointing import latest_checkpoint, read_state

SAVE_SECONDS = 10  # the last checkpoint, final/ and the curves after the loop
EVALUATION_PAUSE = 5  # a logged step that took this many times the median held a dev evaluation


def pace(train_csv) -> tuple[int, float, float]:
    """(last step, its elapsed seconds, steps per second): the mean seconds a step over the second half of the
    last stretch of the log run as it runs now, without the pauses of its evaluations (plan() adds those).

    The stretch ends at the last row and goes back while the steps rise and each step's global batch
    (`images`) stays the last one's: a log that holds a resumed branch, or steps at another batch or on
    another number of processes, would otherwise give a pace the run no longer has."""
    with open(train_csv, newline="") as file:
        rows = [(int(row["step"]), float(row["elapsed_s"]), row.get("images") or None) for row in csv.DictReader(file)]
    if not rows:
        raise ValueError(f"{train_csv}: no steps logged, no pace to measure")
    start = len(rows) - 1
    while start > 0 and rows[start - 1][0] < rows[start][0] and rows[start - 1][2] == rows[-1][2]:
        start -= 1
    stretch = rows[start + (len(rows) - start) // 2:] if len(rows) - start >= 4 else rows[start:]
    if len(stretch) < 2:
        raise ValueError(f"{train_csv}: fewer than two steps logged in a row, no pace to measure")
    seconds = sorted((b_s - a_s) / (b - a) for (a, a_s, _), (b, b_s, _) in zip(stretch, stretch[1:]))
    typical = seconds[len(seconds) // 2]
    kept = [value for value in seconds if value <= EVALUATION_PAUSE * typical]
    return rows[-1][0], rows[-1][1], len(kept) / max(sum(kept), 1e-9)


def plan(done: int, rate: float, seconds: float, startup: float, eval_every: int = 0, eval_seconds: float = 0.0,
         max_steps: int | None = None) -> tuple[int, float]:
    """(total steps, loop minutes) for a resumed run at step `done` that must end within `seconds`,
    start-up (`startup`), its final evaluation (`eval_seconds`) and saving included."""
    loop = seconds - startup - eval_seconds - SAVE_SECONDS
    if loop <= 0:
        return done, 0.0
    # every eval_every steps an evaluation takes eval_seconds from the loop: one step costs 1/rate plus its share
    step_seconds = 1 / rate + (eval_seconds / eval_every if eval_every else 0.0)
    total = done + math.floor(loop / step_seconds)
    if max_steps is not None:
        total = min(total, max_steps)
    return max(total, done), loop / 60


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="the calibration run folder (its train.csv)")
    parser.add_argument("--seconds", type=float, required=True, help="wall time the resumed run may take in all")
    parser.add_argument("--calibration-seconds", type=float, required=True,
                        help="the calibration run's wall time: what it took besides its loop is the start-up cost")
    parser.add_argument("--eval-every", type=int, default=0)
    parser.add_argument("--eval-seconds", type=float, default=0.0, help="one dev evaluation, decoding included")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--start", default=None,
                        help="the checkpoint the run resumes from (e.g. RUN/stable): its step is where the budget "
                             "starts (default: RUN's latest checkpoint, else the last step logged)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    done, loop_seconds, rate = pace(Path(args.run) / "train.csv")
    # `--resume` goes on from a checkpoint, which lags the log when the run was killed between two
    checkpoint = latest_checkpoint(args.start) if args.start is not None else latest_checkpoint(args.run)
    if args.start is not None and checkpoint is None:
        raise SystemExit(f"--start {args.start}: no checkpoint found")
    if checkpoint is not None:
        done = read_state(checkpoint)["step"]
    startup = max(0.0, args.calibration_seconds - loop_seconds)
    total, minutes = plan(done, rate, args.seconds, startup, args.eval_every, args.eval_seconds, args.max_steps)
    print(f"pace {rate:.2f} steps/s, start-up {startup:.0f} s, {args.seconds:.0f} s left: "
          f"steps {done} -> {total}, loop {minutes:.2f} min", file=sys.stderr)
    print(f"{total} {minutes:.3f}")


if __name__ == "__main__":
    main()
