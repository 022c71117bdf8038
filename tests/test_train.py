"""Scheduled-sampling training: schedules, LR groups, the two-pass loss, exact resume, evaluation and
the Hub push (intercepted: nothing leaves the machine). A tiny model on a tiny data set made here."""
import json
import math
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset
from PIL import Image, ImageDraw
from safetensors.torch import load_file

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration
from acai_hf.model.loading import default_processor
from training.batches.collate import SystemCollator
from training.batches.width_buckets import WidthBucketSampler
from training.data.loaders import load_system_dataset
from training.data.schema import FEATURES, GEOMETRY_COLUMNS
from training.run.checkpointing import latest_checkpoint
from training.run.fast_path import align_optimizer_state, channels_last_stem
from training.run.layer_decay import param_groups
from training.run.lr_sched import decay_start, lr_multiplier, set_lr
from training.supervised import train as train_cli
from training.supervised.scheduled_sampling import (ScheduledSampling, gumbel_tau, length_groups, straight_through,
                                                    teacher_forcing_prob)
from terminate_self import sigterm_when_logged
from written_before import SUPERVISED_NAMES, as_written_before

SPLIT_SIZES = {"train": 8, "dev": 4, "test": 4}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def synthetic_system(rng, width: int) -> Image.Image:
    """Two five-line staves with random note heads: enough for the model to have pixels to read."""
    image = Image.new("L", (width, 96), 255)
    draw = ImageDraw.Draw(image)
    for top in (20, 60):
        for line in range(5):
            draw.line([(4, top + 3 * line), (width - 4, top + 3 * line)], fill=0)
    for _ in range(width // 12):
        x, y = int(rng.integers(8, width - 8)), int(rng.integers(14, 80))
        draw.ellipse([x, y, x + 5, y + 4], fill=0)
    return image


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, gold_systems):
    """Our engine's layout (<split>/*.parquet in FEATURES): synthetic images with real gold LMX."""
    root = tmp_path_factory.mktemp("systems")
    rng = np.random.default_rng(0)
    golds = iter(gold_systems * 4)
    for split, count in SPLIT_SIZES.items():
        rows = []
        for index in range(count):
            musicxml, lmx = next(golds)
            rows.append({"image": synthetic_system(rng, int(rng.integers(160, 400))), "lmx": lmx,
                         "musicxml": musicxml, "source": "synthetic", "piece_id": f"{split}-{index}",
                         "system_index": 0, "n_measures": 1, "engraving": "{}", **dict.fromkeys(GEOMETRY_COLUMNS)})
        (root / split).mkdir()
        Dataset.from_list(rows, features=FEATURES).to_parquet(str(root / split / "shard-00000.parquet"))
    return root


def tiny_args(dataset_dir, out, *extra):
    return ["--dataset", str(dataset_dir), "--out", str(out), "--preset", "tiny", "--batch-size", "2",
            "--total-steps", "6", "--warmup-steps", "1", "--save-every", "3", "--eval-every", "0",
            "--dev-limit", "2", "--decode-limit", "2", "--precision", "fp32", "--augment-p", "0.5", "--threads", "1",
            *extra]


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


def read_csv_rows(run):
    return [row.split(",") for row in (run / "train.csv").read_text().splitlines()]


# -- schedules and parameter groups ----------------------------------------------------------------

def test_schedules_at_given_steps():
    assert teacher_forcing_prob(0.0) == 1.0 and teacher_forcing_prob(0.25) == 0.75 and teacher_forcing_prob(1.0) == 0.0
    assert gumbel_tau(0.0) == pytest.approx(5.0) and gumbel_tau(1.0) == pytest.approx(0.1)
    assert gumbel_tau(0.5) == pytest.approx(math.sqrt(5.0 * 0.1))  # exponential: geometric mean halfway
    assert not straight_through(0.499) and straight_through(0.5)
    # warm-up 10 of 110 steps, then half a cosine to the floor
    assert lr_multiplier(0, 10, 110) == pytest.approx(0.1)
    assert lr_multiplier(9, 10, 110) == pytest.approx(1.0)
    assert lr_multiplier(60, 10, 110) == pytest.approx(0.5)
    assert lr_multiplier(110, 10, 110, min_ratio=0.1) == pytest.approx(0.1)
    # WSD: the peak until the last 40 steps, then 1 - sqrt to the floor
    assert decay_start(10, 110, 40) == 70
    assert lr_multiplier(20, 10, 110, decay_steps=40) == lr_multiplier(70, 10, 110, decay_steps=40) == 1.0
    assert lr_multiplier(80, 10, 110, decay_steps=40) == pytest.approx(1 - math.sqrt(0.25))
    assert lr_multiplier(110, 10, 110, min_ratio=0.1, decay_steps=40) == pytest.approx(0.1)
    optimizer = torch.optim.AdamW([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 2e-4}])
    set_lr(optimizer, 60, 10, 110)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4) and optimizer.param_groups[0]["base_lr"] == 2e-4


def test_layer_decay_groups():
    model = AcaiOMRForConditionalGeneration.from_preset("tiny")  # 2 encoder layers
    groups = param_groups(model, decoder_lr=1e-4, encoder_lr=1e-5, decay=0.9, weight_decay=0.01)
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # each parameter exactly once
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    wd_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert lr_of[id(named["decoder.layers.0.qkv.weight"])] == 1e-4
    assert lr_of[id(named["transition.mlp.0.weight"])] == 1e-4
    assert lr_of[id(named["encoder.layers.1.qkv.weight"])] == pytest.approx(1e-5)  # top layer
    assert lr_of[id(named["encoder.norm.weight"])] == pytest.approx(1e-5)
    assert lr_of[id(named["encoder.layers.0.qkv.weight"])] == pytest.approx(0.9e-5)
    assert lr_of[id(named["encoder.embeddings.projection.weight"])] == pytest.approx(0.81e-5)  # stem
    assert wd_of[id(named["decoder.layers.0.qkv.weight"])] == 0.01
    assert wd_of[id(named["decoder.layers.0.qkv.bias"])] == 0.0
    assert wd_of[id(named["decoder.embed_positions.weight"])] == 0.0


# -- the two-pass loss -------------------------------------------------------------------------------

def test_scheduled_sampling_loss(gold_systems):
    torch.manual_seed(0)
    model = AcaiOMRForConditionalGeneration.from_preset("tiny").eval()
    processor = default_processor(model.config)
    rng = np.random.default_rng(0)
    rows = [{"image": synthetic_system(rng, 200 + 40 * i), "lmx": lmx} for i, (_, lmx) in enumerate(gold_systems[:3])]
    batch = SystemCollator(processor, max_label_length=model.config.decoder.max_position_embeddings)(rows)
    trainer = ScheduledSampling(model)
    # all teacher forcing: the plain seq2seq loss
    loss, _ = trainer(batch["pixel_values"], batch["pixel_mask"], batch["labels"], tf_prob=1.0)
    reference = model(pixel_values=batch["pixel_values"], pixel_mask=batch["pixel_mask"], labels=batch["labels"]).loss
    torch.testing.assert_close(loss, reference)
    # mixed inputs, hard samples: differentiable through both passes
    loss, logits = trainer(batch["pixel_values"], batch["pixel_mask"], batch["labels"], tf_prob=0.0, tau=0.5, hard=True)
    assert torch.isfinite(loss) and logits.shape[:2] == batch["labels"].shape
    assert not torch.allclose(loss, reference)
    loss.backward()
    for name in ("encoder.layers.0.qkv.weight", "transition.mlp.0.weight", "decoder.lm_head.weight"):
        assert dict(model.named_parameters())[name].grad.abs().sum() > 0, name


def test_length_groups_cover_every_row_once():
    labels = torch.full((5, 9), -100)
    for row, length in enumerate([4, 9, 1, 6, 6]):
        labels[row, :length] = 7
    groups = length_groups(labels, 2)
    assert [rows.tolist() for rows, _ in groups] == [[2, 0], [3, 4], [1]]  # shortest first, stable
    assert [length for _, length in groups] == [4, 6, 9]
    assert length_groups(labels, 0) == [(None, 9)] and length_groups(labels, 5) == [(None, 9)]


@pytest.mark.parametrize("tf_prob, hard", [(1.0, False), (0.4, True)])
def test_fast_path_keeps_the_loss_and_gradients(gold_systems, tf_prob, hard):
    """Decoder length groups and a channels-last conv stem (the trainer's defaults) change the work,
    not the result: same loss, gradients and logits as one padded pass on the plain layout."""
    overrides = {"encoder": {"stem": "conv", "stem_channels": [4, 8, 8, 16]}, "decoder": {"max_position_embeddings": 512}}
    torch.manual_seed(0)
    model = AcaiOMRForConditionalGeneration.from_preset("tiny", **overrides).eval()  # eval: no dropout draws
    processor = default_processor(model.config)
    rng = np.random.default_rng(0)
    lmx = sorted((lmx for _, lmx in gold_systems), key=lambda text: len(text.split()))
    rows = [{"image": synthetic_system(rng, 160 + 40 * i), "lmx": lmx[k]} for i, k in enumerate([9, 0, 20, 3, 14])]
    batch = SystemCollator(processor, max_label_length=512)(rows)
    valid = batch["labels"] != -100
    assert len(set(valid.sum(1).tolist())) == 5  # five different label lengths

    def run(group_size, channels_last):
        model.zero_grad()
        if channels_last:
            channels_last_stem(model)
        torch.manual_seed(1)  # the same Gumbel noise and mixing coins
        loss, logits = ScheduledSampling(model, group_size=group_size)(
            batch["pixel_values"], batch["pixel_mask"], batch["labels"], tf_prob, tau=0.7, hard=hard)
        loss.backward()
        return loss.detach(), logits[valid], {n: p.grad.clone() for n, p in model.named_parameters()}

    plain_loss, plain_logits, plain_grads = run(0, False)
    fast_loss, fast_logits, fast_grads = run(2, True)
    assert model.encoder.embeddings.stages[1][0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast_loss, plain_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast_logits, plain_logits, rtol=1e-4, atol=1e-4)
    for name, grad in plain_grads.items():
        # summation order differs between the layouts' kernels: a bias gradient sums over every position,
        # and its small entries carry the rounding of its large ones (measured 8.5e-4 against a 206 max)
        scale = float(grad.abs().max())
        torch.testing.assert_close(fast_grads[name], grad, rtol=1e-3, atol=max(1e-6, 1e-5 * scale), msg=name)
    assert plain_grads["decoder.layers.0.qkv.weight"].abs().sum() > 0


def test_optimizer_state_takes_the_parameter_layout():
    param = torch.nn.Parameter(torch.randn(4, 3, 3, 3).contiguous(memory_format=torch.channels_last))
    optimizer = torch.optim.AdamW([param])
    saved = torch.randn(4, 3, 3, 3)  # a state saved while the weights were still NCHW
    optimizer.state[param] = {"step": torch.tensor(1.0), "exp_avg": saved.clone(), "exp_avg_sq": saved.abs()}
    align_optimizer_state(optimizer)
    state = optimizer.state[param]
    assert state["exp_avg"].stride() == param.stride() and torch.equal(state["exp_avg"], saved)
    assert torch.equal(state["exp_avg_sq"], saved.abs()) and state["step"].item() == 1.0


# -- data order ---------------------------------------------------------------------------------------

def test_width_buckets_resume_and_shard():
    widths = np.random.default_rng(1).uniform(1, 8, 100)
    sampler = WidthBucketSampler(100, 8, widths, pool_batches=4, seed=3)
    whole = list(sampler)
    sampler.set_epoch(0, start=5)
    assert list(sampler) == whole[5:]  # a resumed epoch continues where it stopped
    first, second = (WidthBucketSampler(100, 8, widths, 4, 3, rank=r, world_size=2) for r in (0, 1))
    assert list(first) + list(second) != [] and len(list(first)) == len(list(second)) == 6
    assert sorted(sum(list(first) + list(second), [])) == sorted(sum(whole[:12], []))
    spread = np.mean([np.ptp(widths[[i for _, i in batch]]) for batch in whole])
    assert spread < 0.5 * np.ptp(widths)  # batches hold similar widths


def test_repeats_oversample_rows_and_resume_alike():
    widths = np.random.default_rng(1).uniform(1, 8, 40)
    repeats = np.ones(40, dtype=int)
    repeats[:4] = 3  # four rare rows, three times each
    sampler = WidthBucketSampler(40, 4, widths, pool_batches=2, seed=3, repeats=repeats)
    assert len(sampler) == 12  # (36 + 3 * 4) rows / 4
    whole = list(sampler)
    counts = np.bincount([i for batch in whole for _, i in batch], minlength=40)
    assert (counts[:4] == 3).all() and (counts[4:] == 1).all()
    sampler.set_epoch(0, start=5)
    assert list(sampler) == whole[5:]
    plain = WidthBucketSampler(40, 4, widths, pool_batches=2, seed=3, repeats=np.ones(40, dtype=int))
    assert list(plain) == list(WidthBucketSampler(40, 4, widths, pool_batches=2, seed=3))  # ones change nothing
    with pytest.raises(ValueError, match="one count"):
        WidthBucketSampler(40, 4, repeats=[1, 2])


# -- the trainer CLI ----------------------------------------------------------------------------------

def test_repeat_time_signatures_lengthens_the_epoch_by_the_rows_that_print_one(dataset_dir, tmp_path, capsys):
    from training.supervised.prepare import time_signature_repeats

    train = load_system_dataset(str(dataset_dir), "train")
    repeats = time_signature_repeats(train["lmx"], 3)
    printing = sum(count == 3 for count in repeats)
    assert 0 < printing < len(repeats)  # the gold systems include first systems and later ones
    train_cli.main(tiny_args(dataset_dir, tmp_path / "run", "--total-steps", "1", "--repeat-time-signatures", "3"))
    said = capsys.readouterr().out
    assert f"{(len(repeats) + 2 * printing) // 2} steps per epoch" in said
    assert f"{printing} rows print a time signature: 3 times" in said
    with pytest.raises(SystemExit, match="at least 1"):
        time_signature_repeats(train["lmx"], 0)


def test_kill_and_resume_gives_the_same_weights(dataset_dir, tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train_cli.main(tiny_args(dataset_dir, straight))
    train_cli.main(tiny_args(dataset_dir, killed, "--stop-at", "3"))
    assert latest_checkpoint(killed).name == "step-0000003"
    assert not (killed / "checkpoints" / "step-0000006").exists()
    train_cli.main(["--resume", str(killed)])
    a, b = weights(straight / "final"), weights(killed / "final")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    def logged(run):  # what is deterministic in the step log (not the timings)
        return [row[:9] for row in read_csv_rows(run)]

    assert len(logged(straight)) == 7 and logged(straight)[0][:5] == ["step", "epoch", "ce", "tf_prob", "tau"]
    assert logged(killed) == logged(straight)  # the resumed log continues, without repeated steps
    assert (straight / "best" / "metrics.json").is_file() and (straight / "curves.png").is_file()
    machine = json.loads((straight / "machine.json").read_text())  # the model card names each run's hardware
    assert machine["device_type"] == "cpu" and machine["processes"] == 1 and machine["precision"] in ("fp32", "bf16")

    from transformers import AutoModelForImageTextToText, AutoProcessor
    model = AutoModelForImageTextToText.from_pretrained(str(straight / "best"))
    processor = AutoProcessor.from_pretrained(str(straight / "best"))
    assert type(model).__name__ == "AcaiOMRForConditionalGeneration" and processor.tokenizer is not None


def test_a_run_folder_of_before_resumes_exactly(dataset_dir, tmp_path):
    """A run of the trainer before it shared the skeleton (its checkpoint records `clip`, not `grad_clip`),
    moved since it was written: resumed in its new place, it ends with the weights and log of a run never
    stopped."""
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train_cli.main(tiny_args(dataset_dir, straight, "--grad-clip", "0.5"))
    train_cli.main(tiny_args(dataset_dir, killed, "--grad-clip", "0.5", "--stop-at", "3"))
    old = as_written_before(latest_checkpoint(killed), SUPERVISED_NAMES)
    assert old["args"]["clip"] == 0.5 and "grad_clip" not in old["args"]
    moved = killed.rename(tmp_path / "moved")
    train_cli.main(["--resume", str(moved)])
    assert not killed.exists() and latest_checkpoint(moved).name == "step-0000006"
    a, b = weights(straight / "final"), weights(moved / "final")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [row[:9] for row in read_csv_rows(moved)] == [row[:9] for row in read_csv_rows(straight)]


def test_resume_may_lengthen_training_and_change_lr(dataset_dir, tmp_path):
    out = tmp_path / "run"
    train_cli.main(tiny_args(dataset_dir, out, "--stop-at", "3"))
    larger = tmp_path / "larger-mix"  # the same rows under another name, as a resume onto a new mix names it
    larger.symlink_to(dataset_dir, target_is_directory=True)
    train_cli.main(["--resume", str(out), "--total-steps", "8", "--lr", "5e-4", "--dev-limit", "0",
                    "--dataset", str(larger)])
    read = json.loads((out / "datasets.json").read_text())  # the model card names both
    assert read == [{"step": 0, "dataset": str(dataset_dir)}, {"step": 3, "dataset": str(larger)}]
    header, *rows = read_csv_rows(out)
    assert [int(r[0]) for r in rows] == list(range(1, 9))
    tf = [float(r[header.index("tf_prob")]) for r in rows]
    assert tf[3] == pytest.approx(1 - 3 / 8)  # the schedules follow the new length from the resumed step
    assert float(rows[3][header.index("lr_decoder")]) > 1e-4  # the new peak LR applies


def test_a_wsd_run_is_lengthened_from_its_plateau_not_its_annealed_end(dataset_dir, tmp_path):
    out = tmp_path / "run"
    train_cli.main(tiny_args(dataset_dir, out, "--decay-steps", "2"))  # 6 steps: the LR falls after step 5
    stable = latest_checkpoint(out / "stable")
    assert stable.name == "step-0000004" and latest_checkpoint(out).name == "step-0000006"
    # lengthened from the plateau and stopped at step 5: its checkpoint outlives the annealed branch's step 6
    train_cli.main(["--resume", str(out / "stable"), "--total-steps", "9", "--keep", "1", "--stop-at", "5"])
    assert sorted(p.name for p in (out / "checkpoints").glob("step-*")) == ["step-0000005"]
    train_cli.main(["--resume", str(out)])
    header, *rows = read_csv_rows(out)
    lr = [float(r[header.index("lr_decoder")]) for r in rows]
    assert [int(r[0]) for r in rows] == list(range(1, 10))  # the annealed branch's steps 5-6 are logged anew
    assert lr[:8] == [pytest.approx(1e-4)] * 8 and lr[8] < 1e-4  # on the plateau; only the last step falls
    assert latest_checkpoint(out / "stable").name == "step-0000007" and (out / "final").is_dir()
    # the annealed branch's rows left train.csv but are kept: the fall that made final/ is history
    branch = (out / "train.branch-0000005-0000006.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in branch] == ["step", "5", "6"]


def test_sigterm_ends_the_run_after_its_step_with_that_steps_checkpoint(dataset_dir, tmp_path):
    """SIGTERM (a session's end, a job manager) costs no step: the run saves the step it is in, writes no
    final/ and returns; its handler is gone after, and --resume goes on from that step to the end."""
    out, before = tmp_path / "run", signal.getsignal(signal.SIGTERM)
    with sigterm_when_logged(out / "train.csv", 3):  # header and two steps
        train_cli.main(tiny_args(dataset_dir, out, "--total-steps", "2000", "--save-every", "5000"))
    steps = [int(row[0]) for row in read_csv_rows(out)[1:]]
    assert steps == list(range(1, len(steps) + 1)) and 2 <= steps[-1] < 2000
    assert latest_checkpoint(out).name == f"step-{steps[-1]:07d}"  # the step it stopped after, not a periodic one
    assert not (out / "final").exists() and not (out / "dev.csv").exists()  # no end-of-run evaluation
    assert signal.getsignal(signal.SIGTERM) is before
    train_cli.main(["--resume", str(out), "--total-steps", str(steps[-1] + 2)])
    assert [int(row[0]) for row in read_csv_rows(out)[1:]] == list(range(1, steps[-1] + 3))
    assert (out / "final").is_dir()


def test_evaluate_cli_writes_json(dataset_dir, tmp_path, capsys):
    from training.release import evaluate

    run = tmp_path / "run"
    train_cli.main(tiny_args(dataset_dir, run, "--total-steps", "1", "--dev-limit", "0"))
    metrics = evaluate.main([str(run / "final"), "--dataset", str(dataset_dir), "--split", "test", "--limit", "3",
                             "--augment", "--out", str(tmp_path / "eval")])
    saved = json.loads((tmp_path / "eval" / "eval-test-augmented.json").read_text())  # beside a clean eval-test
    assert saved.keys() == metrics.keys()
    for key in ("ser", "tedn", "delinearize_clean", "measure_fill", "systems_per_s"):
        assert key in saved
    assert saved["systems"] == 3 and saved["ser"] >= 0 and saved["systems_per_s"] > 0
    assert "| ser |" in (tmp_path / "eval" / "eval-test-augmented.md").read_text()
    int8 = evaluate.main([str(run / "final"), "--dataset", str(dataset_dir), "--split", "test", "--limit", "3",
                          "--int8", "--out", str(tmp_path / "eval")])
    assert int8["int8"] and json.loads((tmp_path / "eval" / "eval-test-int8.json").read_text())["int8"]
    assert not json.loads((tmp_path / "eval" / "eval-test-augmented.json").read_text())["int8"]  # not overwritten
    # --sample: systems drawn at random, the same for the same seed, other ones for another
    def sampled(seed):
        evaluate.main([str(run / "final"), "--dataset", str(dataset_dir), "--split", "train", "--sample", "3",
                       "--seed", str(seed), "--out", str(tmp_path / "sample")])
        lines = (tmp_path / "sample" / "eval-train-predictions.jsonl").read_text().splitlines()
        return [json.loads(line)["piece_id"] for line in lines]

    first = sampled(0)
    assert len(first) == 3 and sampled(0) == first and sampled(1) != first
    with pytest.raises(SystemExit):
        evaluate.parse_args([str(run / "final"), "--dataset", str(dataset_dir), "--limit", "2", "--sample", "2"])
    assert "give one" in capsys.readouterr().err


def test_ship_compares_on_systems_drawn_from_each_source(dataset_dir, tmp_path, capsys):
    from training.release import ship

    run = tmp_path / "run"
    train_cli.main(tiny_args(dataset_dir, run, "--total-steps", "1", "--dev-limit", "0"))
    out = tmp_path / "shipped"
    first = ship.main([str(run / "final"), "--dataset", str(dataset_dir), "--dev-per-source", "2", "--out", str(out),
                       "--threads", "1"])
    assert first["shipped"] and first["candidate"]["systems"] == 2  # the fixture's dev split has one source
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["dev_per_source"] == 2 and "dev_limit" not in saved
    again = ship.main([str(run / "final"), "--dataset", str(dataset_dir), "--dev-per-source", "2", "--out", str(out),
                       "--threads", "1"])  # the same weights are not better than themselves
    assert not again["shipped"] and again["current"]["ser"] == again["candidate"]["ser"]
    assert "on 2 systems" in capsys.readouterr().out


def test_select_systems_draws_as_many_from_each_source():
    from datasets import Dataset

    from training.release.evaluate import select_systems

    sources = ["procedural"] * 40 + ["chorale"] * 5 + ["corpus-piano"] * 3 + ["procedural"] * 10
    data = Dataset.from_dict({"source": sources, "row": list(range(len(sources)))})
    chosen = select_systems(data, per_source=4, seed=0)
    counts = {source: chosen["source"].count(source) for source in set(sources)}
    assert counts == {"procedural": 4, "chorale": 4, "corpus-piano": 3}  # a source with fewer gives all it has
    assert select_systems(data, per_source=4, seed=0)["row"] == chosen["row"]  # the same for both models
    assert select_systems(data, per_source=4, seed=1)["row"] != chosen["row"]
    assert select_systems(data, limit=5)["row"] == [0, 1, 2, 3, 4]
    assert len(select_systems(data)) == len(sources)
    with pytest.raises(ValueError, match="source column"):
        select_systems(data.remove_columns("source"), per_source=2)


def test_score_splits_the_ser_into_pitches_and_the_rest():
    from training.release.evaluate import score

    gold = "measure clef:G2 staff:1 C4 voice:1 quarter E4 quarter G4 half"
    wrong_pitches = "measure clef:G2 staff:1 D4 voice:1 quarter F4 quarter A4 half"
    wrong_rhythm = "measure clef:G2 staff:1 C4 voice:1 eighth E4 eighth G4 quarter"
    by_pitch = score([wrong_pitches], [gold])
    assert by_pitch["ser_pitch"] == 1.0 and by_pitch["ser_not_pitch"] == 0.0 and by_pitch["ser"] == 3 / 10
    by_rhythm = score([wrong_rhythm], [gold])
    assert by_rhythm["ser_pitch"] == 0.0 and by_rhythm["ser_not_pitch"] == 3 / 7
    assert by_pitch["key_right"] is None and by_pitch["times_judged"] == 0  # no key or time printed


def test_by_source_scores_each_kind_of_music_apart():
    from training.release.evaluate import markdown_table, score

    gold = "measure clef:G2 staff:1 C4 voice:1 quarter E4 quarter G4 half"
    wrong_pitches = "measure clef:G2 staff:1 D4 voice:1 quarter F4 quarter A4 half"
    kinds = score([gold, wrong_pitches, gold], [gold] * 3, sources=["chorale", "corpus-piano", "chorale"])["by_source"]
    assert "by_source" not in score([gold], [gold], sources=["chorale"])  # one kind: nothing to split
    assert kinds["chorale"]["systems"] == 2 and kinds["chorale"]["ser"] == 0.0
    assert kinds["corpus-piano"]["ser_pitch"] == 1.0 and kinds["corpus-piano"]["ser"] == 3 / 10
    table = markdown_table({"ser": 0.1, "by_source": kinds}, "t")
    assert "| corpus-piano | 1 | 0.3000 | 1.0000 |" in table and "by_source" not in table
    # the piano system's 3 wrong pitches are 3 of the 30 gold tokens: 10 points, all on pitches
    assert kinds["corpus-piano"]["points"] == pytest.approx(3 / 30) and kinds["chorale"]["points"] == 0.0
    assert kinds["corpus-piano"]["points_by_kind"]["pitch"] == pytest.approx(3 / 30)
    assert "| 10.0 | pitch 10.0 |" in table


def test_points_by_source_and_kind_add_up_to_the_ser():
    from training.release.evaluate import score

    gold = ["measure clef:G2 staff:1 C4 voice:1 quarter E4 quarter G4 half",
            "measure clef:F4 staff:2 C3 voice:5 half sharp F3 half",
            "measure clef:G2 staff:1 A4 voice:1 whole"]
    predictions = ["measure clef:G2 staff:1 C4 voice:1 eighth E4 quarter",  # a duration wrong, a note missing
                   "measure clef:F4 staff:2 C3 voice:5 half F3 half",  # an accidental missed
                   "measure clef:G2 staff:1 B4 voice:1 whole staccato"]  # a pitch wrong, a mark invented
    metrics = score(predictions, gold, sources=["chorale", "corpus-piano", "procedural"])
    points = [kind["points"] for kind in metrics["by_source"].values()]
    by_kind = [value for kind in metrics["by_source"].values() for value in kind["points_by_kind"].values()]
    assert sum(points) == pytest.approx(metrics["ser"]) and sum(by_kind) == pytest.approx(metrics["ser"])
    assert metrics["by_source"]["corpus-piano"]["points_by_kind"]["accidental"] == pytest.approx(1 / 25)


def test_push_to_hub_is_intercepted(dataset_dir, tmp_path, monkeypatch):
    from huggingface_hub import HfApi

    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create", repo_id, kw)))

    def upload_folder(self, folder_path, repo_id, **kw):
        calls.append(("upload", repo_id, sorted(p.name for p in Path(folder_path).iterdir())))
        return "commit"

    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    run = tmp_path / "run"
    train_cli.main(tiny_args(dataset_dir, run, "--total-steps", "2", "--push-to-hub", "someone/acai-test"))
    assert [c[0] for c in calls] == ["create", "upload"] and calls[0][1] == "someone/acai-test"
    uploaded = calls[1][2]
    for name in ("README.md", "config.json", "model.safetensors", "processor_config.json"):
        assert any(n.startswith(name.split(".")[0]) for n in uploaded), (name, uploaded)
    card = (run / "best" / "README.md").read_text()
    assert "someone/acai-test" in card and "pipeline_tag: image-to-text" in card


def test_dev_evaluation_measures_what_the_image_is_worth(dataset_dir, tmp_path, one_torch_thread):
    """dev CE with each system's own image beside the CE with its neighbour's: the sign that a model reads
    the image at all (a run that learned only the token history shows the two equal)."""
    from training.run.logs import read_csv

    run = tmp_path / "run"
    train_cli.main(tiny_args(dataset_dir, run, "--total-steps", "1", "--dev-limit", "4", "--decode-limit", "0",
                             "--eval-batch-size", "4"))
    rows = read_csv(run / "dev.csv")
    assert rows and all(row["dev_ce_swapped_images"] not in (None, "") for row in rows)
    # a fresh random model's logits do depend on the image, so the two CEs differ
    assert float(rows[0]["dev_ce_swapped_images"]) != float(rows[0]["dev_ce"])
    # the same on pitch tokens alone (the golds have pitches), the sharper sign of reading
    pitch, pitch_swapped = float(rows[0]["dev_pitch_ce"]), float(rows[0]["dev_pitch_ce_swapped_images"])
    assert pitch > 0 and pitch_swapped > 0 and pitch != pitch_swapped and pitch != float(rows[0]["dev_ce"])


def test_one_process_may_run_a_bf16_trainer_and_then_an_fp32_evaluation():
    """accelerate keeps one precision a process: --precision auto is bf16 on a CPU with AMX, and an fp32
    evaluation after it in the same process (a notebook, this suite) must not refuse to start."""
    from training.run.launch import make_accelerator

    assert make_accelerator("bf16").mixed_precision == "bf16"
    assert make_accelerator("fp32").mixed_precision == "no"
    assert make_accelerator("fp32").mixed_precision == "no"
