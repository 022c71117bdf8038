"""MAE pretraining: masking, positions, the objective, the CLI (2 steps, resume, a checkpoint of before, a stop by
SIGTERM) and the encoder export."""
import shutil
import signal

import pytest
import torch
from safetensors.torch import load_file

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.model.configuration_acai import AcaiOMRConfig
from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration
from conftest import VECTORS_PATH
from synthetic_systems import save_synthetic_dataset
from terminate_self import sigterm_when_logged
from training.mae import pretrain as pretrain_mae
from training.mae.model import AcaiMAE, MAEConfig, patchify, random_masking
from training.run.checkpointing import latest_checkpoint
from written_before import MAE_NAMES, as_written_before

CONV_STEM = {"stem": "conv", "stem_channels": [4, 8, 8, 16]}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_mae(seed=0, **encoder):
    torch.manual_seed(seed)
    return AcaiMAE(AcaiOMRConfig.from_preset("tiny", encoder=encoder), MAEConfig.from_preset("tiny"))


def padded_batch(seed=0):
    """Two images, 32 x 96 and 32 x 48 (the second padded): grids of 2 x 6 and 2 x 3 patches."""
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.rand(2, 1, 32, 96, generator=generator)
    mask = torch.ones(2, 32, 96, dtype=torch.long)
    mask[1, :, 48:] = 0
    pixels[1, :, :, 48:] = 0
    return pixels, mask


def test_masking_hides_only_valid_patches():
    valid = torch.zeros(3, 40, dtype=torch.bool)
    valid[0, :40], valid[1, :20], valid[2, :8] = True, True, True
    masking = random_masking(valid, 0.75, torch.Generator().manual_seed(0))
    assert not (masking.hidden & ~valid).any()
    kept_patches = masking.keep_index[masking.keep_valid]
    rows = torch.arange(3)[:, None].expand_as(masking.keep_index)[masking.keep_valid]
    assert valid[rows, kept_patches].all()  # every kept token is a real patch
    assert masking.keep_valid.sum(1).tolist() == [10, 5, 2]
    assert masking.hidden.sum(1).tolist() == [30, 15, 6]
    kept = torch.zeros_like(valid)
    kept[rows, kept_patches] = True
    assert not (kept & masking.hidden).any()


def test_decoder_sincos_positions_are_set_on_non_square_grids():
    model = tiny_mae()
    positions = model.decoder_positions((3, 7))
    assert positions.shape == (21, model.mae.decoder_width)
    assert positions.abs().sum(1).min() > 0  # never ViTMAE's zero tables
    assert torch.unique(positions, dim=0).shape[0] == 21  # one distinct position per patch


def test_patchify_follows_the_encoder_token_order():
    image = torch.arange(6.0).view(1, 1, 2, 3).repeat_interleave(16, 2).repeat_interleave(16, 3)
    patches = patchify(image, 16)
    assert patches.shape == (1, 6, 256)
    assert torch.equal(patches[0, :, 0], torch.arange(6.0)) and (patches.std(-1) == 0).all()


@pytest.mark.parametrize("encoder", [{}, CONV_STEM], ids=["linear", "conv"])
def test_hidden_pixels_cannot_reach_the_prediction(encoder):
    model = tiny_mae(**encoder).eval()
    pixels, mask = padded_batch()
    out = model(pixels, mask, generator=torch.Generator().manual_seed(1))
    p = model.config.encoder.patch_size
    hidden = out["hidden"].view(2, 1, 2, 6).float()
    hidden_pixels = torch.nn.functional.interpolate(hidden, scale_factor=p).bool()
    changed = torch.where(hidden_pixels, torch.rand_like(pixels), pixels)
    again = model(changed, mask, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again["hidden"], out["hidden"])
    torch.testing.assert_close(again["pred"], out["pred"])


def test_loss_targets_the_clean_image_and_learns():
    model = tiny_mae()
    pixels, mask = padded_batch()
    clean = (pixels > 0.5).float() * mask[:, None]
    generator = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    against_input = model(pixels, mask, generator=generator())["loss"]
    against_clean = model(pixels, mask, clean, generator=generator())["loss"]
    assert torch.isfinite(against_clean) and not torch.isclose(against_input, against_clean)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        loss = model(pixels, mask, clean, generator=generator())["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(map(torch.isfinite, map(torch.tensor, losses))) and losses[-1] < losses[0]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return save_synthetic_dataset(tmp_path_factory.mktemp("systems") / "data", VECTORS_PATH)


def cli(dataset, out, *extra):
    return ["--dataset", dataset, "--preset", "tiny", "--out", str(out), "--batch-size", "4",
            "--workers", "0", "--warmup-epochs", "0", "--lr", "1e-2", "--threads", "1", *extra]


def test_cli_two_steps_export_and_load(dataset, tmp_path):
    mae = pretrain_mae.main(cli(dataset, tmp_path / "run", "--total-steps", "2", "--log-every", "1",
                                "--export", str(tmp_path / "init")))
    log = (tmp_path / "run" / "mae_log.csv").read_text().splitlines()
    assert len(log) == 3 and all(float(line.split(",")[1]) < 10 for line in log[1:])  # finite losses
    model = AcaiOMRForConditionalGeneration.from_pretrained(tmp_path / "init")
    exported, trained = model.encoder.state_dict(), mae.encoder.state_dict()
    assert exported.keys() == trained.keys()
    assert all(torch.equal(exported[k], trained[k]) for k in trained)
    assert (tmp_path / "init" / "processor_config.json").exists()


def test_cli_resume_continues_the_same_run(dataset, tmp_path):
    pretrain_mae.main(cli(dataset, tmp_path / "straight", "--total-steps", "3"))
    straight = load_file(tmp_path / "straight" / "checkpoints" / "step-0000003" / "model.safetensors")
    # the same run "killed" after its step-2 checkpoint: drop what came later, then resume
    pretrain_mae.main(cli(dataset, tmp_path / "killed", "--total-steps", "3", "--save-every", "2"))
    checkpoints = tmp_path / "killed" / "checkpoints"
    shutil.rmtree(checkpoints / "step-0000003")
    (checkpoints / "latest").write_text("step-0000002")
    # only --resume: batch size, learning rate, schedule and data come from the checkpoint, as in every trainer
    pretrain_mae.main(["--resume", str(tmp_path / "killed"), "--threads", "1"])
    resumed = load_file(checkpoints / "step-0000003" / "model.safetensors")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_sigterm_ends_pretraining_after_its_step_with_that_steps_checkpoint(dataset, tmp_path):
    """As the supervised trainer: the step in progress is saved, nothing exported, and the run resumes."""
    out, init, before = tmp_path / "run", tmp_path / "init", signal.getsignal(signal.SIGTERM)
    with sigterm_when_logged(out / "mae_log.csv", 3):
        pretrain_mae.main(cli(dataset, out, "--total-steps", "2000", "--save-every", "5000", "--log-every", "1",
                              "--export", str(init)))
    step = int((out / "mae_log.csv").read_text().splitlines()[-1].split(",")[0])
    assert 2 <= step < 2000 and (out / "checkpoints" / "latest").read_text() == f"step-{step:07d}"
    assert not init.exists() and signal.getsignal(signal.SIGTERM) is before
    pretrain_mae.main(["--resume", str(out), "--total-steps", str(step + 1), "--threads", "1", "--export", str(init)])
    assert (out / "checkpoints" / "latest").read_text() == f"step-{step + 1:07d}" and init.is_dir()


def test_a_checkpoint_of_before_resumes_exactly(dataset, tmp_path):
    """A checkpoint of pretrain_mae before the trainers shared one skeleton: its arguments under their old
    names (--output-dir, --accum, --max-steps, --num-workers, --checkpoint-every) and the data position as
    `batch_in_epoch`, mid-epoch. Resumed, it goes on as the run would have."""
    pretrain_mae.main(cli(dataset, tmp_path / "straight", "--batch-size", "2", "--total-steps", "3"))
    straight = load_file(tmp_path / "straight" / "checkpoints" / "step-0000003" / "model.safetensors")
    pretrain_mae.main(cli(dataset, tmp_path / "killed", "--batch-size", "2", "--total-steps", "3", "--save-every", "2"))
    checkpoints = tmp_path / "killed" / "checkpoints"
    shutil.rmtree(checkpoints / "step-0000003")
    (checkpoints / "latest").write_text("step-0000002")
    old = as_written_before(checkpoints / "step-0000002", MAE_NAMES, position_key="batch_in_epoch")
    assert old["batch_in_epoch"] == 2 and old["args"]["max_steps"] == 3 and "total_steps" not in old["args"]
    pretrain_mae.main(["--resume", str(tmp_path / "killed")])
    assert latest_checkpoint(tmp_path / "killed").name == "step-0000003"
    resumed = load_file(checkpoints / "step-0000003" / "model.safetensors")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
