"""The arguments the three trainers share (training.run.arguments): one name for each flag, the old spellings
as hidden aliases, and the resume rule on run folders written before the trainers shared one skeleton
(tests/data/old_runs: the trainer states of real runs of then, with their old argument names and MAE's and
GRPO's `batch_in_epoch`)."""
import argparse
import shutil
from pathlib import Path

import pytest

from training.grpo import train as grpo
from training.mae import pretrain as mae
from training.run.arguments import OLD_FLAGS, parse_run_args
from training.run.checkpointing import read_state
from training.supervised import arguments as supervised

OLD_RUNS = Path(__file__).parent / "data" / "old_runs"
PARSERS = {"supervised": supervised.build_parser, "mae": mae.build_parser, "grpo": grpo.build_parser}


@pytest.fixture
def moved_run(tmp_path):
    """A copy of an old run folder: a run resumed after it was moved."""
    return lambda name: Path(shutil.copytree(OLD_RUNS / name, tmp_path / name))


@pytest.mark.parametrize("trainer", PARSERS)
def test_old_spellings_parse_as_todays_flags_and_stay_out_of_help(trainer):
    parser = PARSERS[trainer]()
    shown = parser.format_help()
    checked = 0
    for dest, old_flags in OLD_FLAGS.items():
        today = [action for action in parser._actions if action.dest == dest and action.help != argparse.SUPPRESS]
        if not today:
            continue
        assert today[0].option_strings[0] in shown
        for old in old_flags:
            assert vars(parser.parse_args([old, "3"])) == vars(parser.parse_args([today[0].option_strings[0], "3"]))
            assert old not in shown, old
            checked += 1
    assert checked == {"supervised": 9, "mae": 6, "grpo": 8}[trainer]


def test_the_running_supervised_run_resumes_with_its_arguments(moved_run):
    run = moved_run("small-v24-glyphs")  # training/train.py's checkpoint of 1f32eff: `clip`, `out` elsewhere
    recorded = read_state(run / "checkpoints" / "step-0000900")["args"]
    args = supervised.parse_args(["--resume", str(run)])
    assert args.checkpoint == str(run / "checkpoints" / "step-0000900")
    assert args.out == str(run) != recorded["out"]  # on where the run is now
    assert args.grad_clip == recorded["clip"] == 1.0 and not hasattr(args, "clip")
    for key, value in recorded.items():
        if key not in ("clip", "out", "resume"):
            assert getattr(args, key) == value, key
    given = supervised.parse_args(["--resume", str(run), "--total-steps", "7000", "--clip", "0.5"])
    assert (given.total_steps, given.grad_clip, given.lr) == (7000, 0.5, recorded["lr"])  # the flags given win


def test_an_mae_run_of_before_resumes_with_its_arguments_and_data_position(moved_run):
    run = moved_run("mae-small-v2")
    args = parse_run_args(mae.build_parser(), ["--resume", str(run)])
    recorded = read_state(args.checkpoint)
    assert (recorded["epoch"], recorded["position"]) == (1, 4) and "batch_in_epoch" not in recorded
    assert (args.total_steps, args.grad_accum, args.workers, args.save_every) == (6000, 1, 1, 100)
    assert (args.lr, args.warmup_epochs, args.threads, args.out) == (5e-4, 0.2, 1, str(run))


def test_a_grpo_run_of_before_resumes_with_its_arguments(moved_run):
    run = moved_run("grpo")
    args = parse_run_args(grpo.build_parser(), ["--resume", str(run)])
    assert (args.init_from, args.total_steps, args.dev_limit, args.workers, args.save_every) == (
        "runs/small/best", 2, 2, 0, 1)
    assert args.group_size == 2 and args.max_new_tokens == [16.0, 16.0]  # recorded, not today's defaults
    assert read_state(args.checkpoint)["position"] == 1


def test_resuming_a_folder_without_checkpoints_says_so(tmp_path):
    with pytest.raises(SystemExit, match="no checkpoint found"):
        parse_run_args(mae.build_parser(), ["--resume", str(tmp_path)])
