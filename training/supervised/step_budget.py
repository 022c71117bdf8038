"""How long a run fits in a wall-clock budget: total steps and --max-minutes for `training.supervised.train --resume`.

    python -m training.supervised.step_budget RUN --seconds S --calibration-seconds C [--eval-every E --eval-seconds X]
                                   [--max-steps M] [--start RUN/stable]
    -> prints "TOTAL_STEPS MAX_MINUTES" (and how it got them on stderr)

The pace comes from a short calibration run's RUN/train.csv (its second half: the first steps are fed
from batches the data workers made ahead, and warm-up kernels are slow). The cosine schedule is a function
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


def pace(train_csv) -> tuple[int, float, float]:
    """(last step, its elapsed seconds, steps per second over the second half of the logged steps)."""
    with open(train_csv, newline="") as file:
        rows = [(int(row["step"]), float(row["elapsed_s"])) for row in csv.DictReader(file)]
    if len(rows) < 2:
        raise ValueError(f"{train_csv}: fewer than two steps logged, no pace to measure")
    (first_step, first_s), (last_step, last_s) = rows[(len(rows) - 1) // 2], rows[-1]
    return last_step, last_s, (last_step - first_step) / max(last_s - first_s, 1e-9)


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
