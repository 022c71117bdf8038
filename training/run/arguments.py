"""The arguments of a training run: one spelling for each flag the trainers share, and the resume rule.

training.supervised.train, training.mae.pretrain and training.grpo.train name the same things alike: --out,
--grad-accum, --grad-clip, --save-every, --total-steps, --workers, --dev-limit, --init-from. Some trainers
spelt them otherwise before (OLD_FLAGS); those spellings still parse, hidden from --help, and what a run
recorded under them is read under today's names, so recorded commands and run folders keep working.

A resumed run (`--resume RUN`) starts from the arguments its latest checkpoint recorded: only the flags on
the command line change them, and what a run never inherits (FRESH) is left out.
"""
import argparse

from training.run.checkpointing import CHECKPOINTS, STABLE, latest_checkpoint, read_state
from training.run.precision import CHOICES

OLD_FLAGS = {  # today's name (its dest): the spellings it had in some trainer before
    "out": ("--output-dir",),
    "grad_accum": ("--accum",),
    "grad_clip": ("--clip",),
    "save_every": ("--checkpoint-every",),
    "total_steps": ("--max-steps", "--steps"),
    "workers": ("--num-workers",),
    "dev_limit": ("--eval-limit",),
    "init_from": ("--model",),
}
OLD_KEYS = {flag[2:].replace("-", "_"): dest for dest, flags in OLD_FLAGS.items() for flag in flags}
# what to continue, where to write, when to stop short, where to export: given anew every time
FRESH = ("resume", "out", "stop_at", "export")


def add_run_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    """The flags every trainer has, the same in each."""
    a = parser.add_argument
    a("--out", default=None, help=f"run folder (default: {default_out}; a resumed run: the folder it is in)")
    a("--resume", default=None, help="run folder or checkpoint: continue it exactly; the flags given win")
    a("--keep", type=int, default=2, help="checkpoints kept")
    a("--precision", default="auto", choices=CHOICES)
    a("--threads", type=int, default=None,
      help="torch.set_num_threads (1 is far faster when other jobs share the cores)")
    a("--seed", type=int, default=0)


def add_old_spellings(parser: argparse.ArgumentParser) -> None:
    """Each flag of this parser that OLD_FLAGS names also parses under its old spellings, hidden from --help.
    Call once the trainer's own flags are added."""
    for action in list(parser._actions):
        for flag in OLD_FLAGS.get(action.dest, ()):
            parser.add_argument(flag, dest=action.dest, type=action.type, nargs=action.nargs, choices=action.choices,
                                metavar=action.metavar, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def recorded_arguments(checkpoint) -> dict:
    """The arguments a checkpoint recorded, under today's names."""
    saved = read_state(checkpoint).get("args", {})
    return {OLD_KEYS.get(key, key): value for key, value in saved.items()}


def recordable(args: argparse.Namespace) -> dict:
    """The arguments a checkpoint records (not the checkpoint a run was resumed from)."""
    return {key: value for key, value in vars(args).items() if key != "checkpoint"}


def parse_run_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parses argv. With --resume, over the arguments the run recorded; `args.checkpoint` is then the
    checkpoint it continues (None on a fresh run)."""
    args = parser.parse_args(argv)
    args.checkpoint = None
    if not args.resume:
        return args
    checkpoint = latest_checkpoint(args.resume)
    if checkpoint is None:
        raise SystemExit(f"--resume {args.resume}: no checkpoint found")
    recorded = recorded_arguments(checkpoint)
    known = {action.dest for action in parser._actions}
    parser.set_defaults(**{key: value for key, value in recorded.items() if key in known and key not in FRESH})
    args = parser.parse_args(argv)
    args.checkpoint = str(checkpoint)
    if args.out is None:  # on in the folder that holds the checkpoint, wherever the run has moved since
        in_run = checkpoint.parent.name in (CHECKPOINTS, STABLE)
        args.out = str(checkpoint.parent.parent) if in_run else recorded.get("out")
    return args


__all__ = ["OLD_FLAGS", "FRESH", "add_run_arguments", "add_old_spellings", "parse_run_args", "recorded_arguments",
           "recordable"]
