"""GRPO: each reward on hand-made cases, the sampling distribution and its importance ratio, one step, a run of
before resumed, and a stop by SIGTERM."""
import math
import signal

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.metrics.tedn import tedn
from acai_hf.model.generation_acai import lmx_transition_table
from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration
from conftest import VECTORS_PATH
from synthetic_systems import gold_pairs, save_synthetic_dataset
from terminate_self import sigterm_when_logged
from training.grpo import train as grpo
from training.grpo.loss import clipped_objective, group_advantages, normalised_entropy, sampling_logprobs
from training.grpo.rewards import (length_penalty, note_f1_reward, repeat_penalty, tedn_reward, weighted_rewards,
                                   wellformedness_reward)
from training.grpo.rollouts import policy_logprobs, sample_rollouts
from training.grpo.schedule import Curriculum, Ramp
from training.grpo.step import GRPOSettings, freeze_for_grpo, grpo_step
from tiny_omr_model import tiny_processor
from written_before import GRPO_NAMES, as_written_before


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def golds():
    return gold_pairs(VECTORS_PATH)


# --- rewards ---------------------------------------------------------------------------------------

def test_tedn_reward_is_one_for_an_exact_match(golds):
    musicxml, lmx = next((x, l) for x, l in golds if tedn(l, x).edit_cost == 0)
    other = next(l for x, l in golds if x != musicxml)
    exact, wrong = tedn_reward([lmx, other], musicxml=[musicxml, musicxml], workers=1)
    assert exact == 1.0 and 0 <= wrong < 1
    assert tedn_reward([other], musicxml=[musicxml], scale="percent", workers=1)[0] < 1


def test_tedn_reward_in_parallel_matches_in_process(golds):
    predictions = [lmx for _, lmx in golds[:4]]
    musicxml = [golds[0][0]] * 4
    in_process = tedn_reward(predictions, musicxml=musicxml, workers=1)
    assert tedn_reward(predictions, musicxml=musicxml, workers=2) == in_process


def test_wellformedness(golds):
    clean = golds[1][1]
    rewards = wellformedness_reward([clean, "", "C4 quarter", "measure C4 quarter bogus"], gamma=3.0, alpha=0.2)
    assert rewards[:3] == [1.0, -3.0, -3.0]  # unparseable (no measure) -> -gamma
    assert rewards[3] == pytest.approx(math.exp(-0.2))  # one unknown token: one minor error


def test_note_f1():
    gold = "measure C4 quarter D4 quarter"
    assert note_f1_reward(["measure C4 quarter E4 quarter", gold, "measure rest whole", ""],
                          lmx=[gold] * 4) == [0.5, 1.0, 0.0, 0.0]
    assert note_f1_reward(["measure C4 half D4 quarter"], lmx=[gold]) == [0.5]  # duration counts
    assert note_f1_reward([""], lmx=[""]) == [1.0]


def test_repeat_penalty():
    # 2-grams "C4 quarter" / "quarter C4" repeat at 3 positions; no 3- or 4-gram repeats fit
    assert repeat_penalty(["measure C4 quarter C4 quarter C4 quarter"]) == [3 / (4 * 6)]
    assert repeat_penalty(["measure C4 quarter D4 eighth E4 half", "measure", ""]) == [0.0, 0.0, 0.0]
    # a loop of period n repeats at every position for n and its multiples: 4 -> 1/4, 2 -> 2/4
    four, two = repeat_penalty([" ".join(["C4 quarter D4 eighth"] * 50), " ".join(["C4 quarter"] * 100)])
    assert four == pytest.approx(0.25, abs=0.02) and two == pytest.approx(0.5, abs=0.02)


def test_length_penalty():
    gold = " ".join(["C4"] * 100)
    assert length_penalty([" ".join(["C4"] * n) for n in (100, 90, 110)], lmx=[gold] * 3) == [0.0, 0.0, 0.0]
    off_by_20, off_by_tau, far = length_penalty([" ".join(["C4"] * n) for n in (120, 200, 700)], lmx=[gold] * 3)
    assert off_by_20 == pytest.approx(2 ** 0.2 - 1) and off_by_tau == pytest.approx(1.0) and far == 1.0


def test_weighted_rewards_sum_components(golds):
    musicxml, lmx = golds[1]
    funcs = [lambda completions, **kw: [1.0] * len(completions), repeat_penalty, length_penalty]
    totals, parts = weighted_rewards([lmx, "measure C4 quarter C4 quarter C4 quarter"], funcs, [0.5, -0.15, -0.02],
                                     lmx=[lmx, lmx], musicxml=[musicxml, musicxml])
    assert totals == pytest.approx([0.5 - 0.15 * parts[1][i] - 0.02 * parts[2][i] for i in range(2)])


# --- the GRPO objective ----------------------------------------------------------------------------

def test_group_advantages_and_clipping():
    advantages = group_advantages(torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0, 2.0]), 3)
    assert torch.equal(advantages[:3], torch.zeros(3))  # nothing to prefer within a group
    assert advantages[3] < 0 < advantages[5] and advantages[3:].sum().abs() < 1e-6
    new = torch.log(torch.tensor([[2.0, 1.0]])).requires_grad_()
    mask = torch.ones(1, 2, dtype=torch.bool)
    objective, ratio = clipped_objective(new, torch.zeros(1, 2), torch.tensor([1.0]), mask)
    objective.backward()
    assert ratio[0, 0] == 2.0 and objective.item() == pytest.approx((1.2 + 1.0) / 2)
    assert new.grad[0, 0] == 0  # clipped: no push beyond 1 + epsilon


def test_entropy_is_normalised_and_ignores_the_outside_of_the_support():
    logits = torch.zeros(1, 1, 8, requires_grad=True)
    uniform = sampling_logprobs(logits, 1.0)
    assert normalised_entropy(uniform, torch.ones(1, 1)).item() == pytest.approx(1.0)
    support = torch.zeros(1, 1, 8, dtype=torch.bool)
    support[..., :2] = True
    entropy = normalised_entropy(sampling_logprobs(logits, 1.0, support), torch.ones(1, 1))
    entropy.backward()
    assert entropy.item() == pytest.approx(math.log(2) / math.log(8)) and torch.isfinite(logits.grad).all()


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return AcaiOMRForConditionalGeneration.from_preset("tiny").eval()


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


def encoded(model, processor, group):
    images = [np.random.default_rng(i).integers(0, 256, (32, 100 + 20 * i), dtype=np.uint8) for i in range(2)]
    inputs = processor(images)
    with torch.no_grad():
        states, mask = model.encode(inputs["pixel_values"], inputs["pixel_mask"])
    return states.repeat_interleave(group, 0), mask.repeat_interleave(group, 0)


@pytest.mark.parametrize("temperature, top_k, grammar", [(1.0, 0, False), (1.3, 0, False), (0.7, 5, True)])
def test_importance_ratio_is_one_when_old_and_new_policies_agree(tiny_model, processor, temperature, top_k, grammar):
    states, mask = encoded(tiny_model, processor, 3)
    tokenizer = processor.tokenizer
    table = lmx_transition_table(tokenizer.get_vocab(), 1, 2, 0) if grammar else None
    rollouts = sample_rollouts(tiny_model, states, mask, 40, temperature, top_k, table,
                               torch.Generator().manual_seed(0))
    assert (rollouts.support is not None) == bool(top_k or grammar)
    if rollouts.support is not None:  # every sampled token was allowed
        assert rollouts.support.gather(-1, rollouts.tokens[..., None])[rollouts.mask].all()
    with torch.no_grad():
        new, _ = policy_logprobs(tiny_model, states, mask, rollouts, temperature)
    ratio = torch.exp(new - rollouts.logprobs)[rollouts.mask]
    torch.testing.assert_close(ratio, torch.ones_like(ratio), atol=1e-5, rtol=0)
    # scoring without the temperature (the original's bug) gives a different distribution
    if temperature != 1.0:
        with torch.no_grad():
            wrong, _ = policy_logprobs(tiny_model, states, mask, rollouts, 1.0)
        assert (wrong - rollouts.logprobs)[rollouts.mask].abs().max() > 1e-3


def test_curriculum_ramps():
    curriculum = Curriculum()
    start, end = curriculum.at(0.0), curriculum.at(1.0)
    assert (start["entropy_beta"], end["entropy_beta"]) == pytest.approx((0.20, 0.02))
    assert (start["length_weight"], end["length_weight"]) == pytest.approx((0.02, 0.35))
    assert end["ce_weight"] == 0 and start["temperature"] > end["temperature"]
    assert Ramp(4, 2).at(0.5) == 3 and Curriculum.from_pairs(top_k=(20, 5)).at(0.5)["top_k"] == 12


# --- one step --------------------------------------------------------------------------------------

def test_grpo_step_changes_only_the_decoder(processor, golds):
    torch.manual_seed(0)
    model = AcaiOMRForConditionalGeneration.from_preset("tiny")
    pairs = golds[:2]
    images = [np.random.default_rng(i).integers(0, 256, (32, 100), dtype=np.uint8) for i in range(2)]
    batch = dict(processor(images, text_target=[lmx for _, lmx in pairs]))
    batch["labels"] = batch["labels"][:, :64]
    batch.update(lmx=[lmx for _, lmx in pairs], musicxml=[x for x, _ in pairs])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(freeze_for_grpo(model), lr=1e-3)
    values = {**Curriculum().at(0.0), "max_new_tokens": 32}
    metrics = grpo_step(model, optimizer, batch, processor.tokenizer, GRPOSettings(group_size=4, reward_workers=1),
                        values, generator=torch.Generator().manual_seed(0))
    assert metrics["ratio_first_maxdev"] < 1e-5 and len(metrics["completions"]) == 8
    assert all(math.isfinite(metrics[k]) for k in ("loss", "reward", "entropy", "ce"))
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("decoder.") for k in changed)


def tiny_model_and_data(tmp_path, processor) -> str:
    """A tiny model saved as tmp_path/model (the runs' --init-from) and a synthetic data set; its path."""
    torch.manual_seed(0)
    model = AcaiOMRForConditionalGeneration.from_preset("tiny")
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    return save_synthetic_dataset(tmp_path / "data", VECTORS_PATH, n_train=4, n_dev=2)


def test_grpo_cli_one_step(tmp_path, processor):
    dataset = tiny_model_and_data(tmp_path, processor)
    grpo.main(["--init-from", str(tmp_path / "model"), "--dataset", dataset, "--out", str(tmp_path / "run"),
               "--total-steps", "1", "--batch-size", "2", "--group-size", "2", "--max-new-tokens", "24", "24",
               "--reward-workers", "1", "--workers", "0", "--threads", "1", "--eval-every", "1",
               "--dev-limit", "2"])
    trained = load_file(tmp_path / "run" / "checkpoints" / "step-0000001" / "model.safetensors")
    initial = load_file(tmp_path / "model" / "model.safetensors")
    changed = {k for k in initial if not torch.equal(initial[k], trained[k])}
    assert changed and all(k.startswith("decoder.") for k in changed)
    assert (tmp_path / "run" / "best" / "metrics.json").exists() and (tmp_path / "run" / "grpo_log.csv").exists()


def test_a_run_of_before_resumes_exactly(tmp_path, processor):
    """A GRPO checkpoint of before the trainers shared one skeleton (--model, --steps, --eval-limit ... and
    `batch_in_epoch`), resumed with --resume alone: its recorded arguments, not today's defaults, carry on."""
    dataset = tiny_model_and_data(tmp_path, processor)

    def run(out, *extra):
        grpo.main(["--init-from", str(tmp_path / "model"), "--dataset", dataset, "--out", str(out),
                   "--total-steps", "2", "--batch-size", "1", "--group-size", "2", "--max-new-tokens", "12", "12", "--reward-workers", "1",
                   "--workers", "0", "--threads", "1", "--save-every", "1", *extra])

    run(tmp_path / "straight")
    run(tmp_path / "killed")
    checkpoints = tmp_path / "killed" / "checkpoints"
    (checkpoints / "step-0000002").rename(tmp_path / "dropped")
    (checkpoints / "latest").write_text("step-0000001")
    old = as_written_before(checkpoints / "step-0000001", GRPO_NAMES, position_key="batch_in_epoch")
    assert old["batch_in_epoch"] == 1 and old["args"]["steps"] == 2 and "total_steps" not in old["args"]
    grpo.main(["--resume", str(tmp_path / "killed")])
    straight = load_file(tmp_path / "straight" / "checkpoints" / "step-0000002" / "model.safetensors")
    resumed = load_file(checkpoints / "step-0000002" / "model.safetensors")
    assert straight.keys() == resumed.keys() and all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_sigterm_ends_grpo_after_its_step_with_that_steps_checkpoint(tmp_path, processor):
    """As the supervised trainer: the step in progress is saved, and the run returns."""
    dataset = tiny_model_and_data(tmp_path, processor)
    out, before = tmp_path / "run", signal.getsignal(signal.SIGTERM)
    with sigterm_when_logged(out / "grpo_log.csv", 3):
        grpo.main(["--init-from", str(tmp_path / "model"), "--dataset", dataset, "--out", str(out),
                   "--total-steps", "2000", "--batch-size", "1", "--group-size", "2", "--max-new-tokens", "8", "8",
                   "--reward-workers", "1", "--workers", "0", "--threads", "1", "--save-every", "5000",
                   "--log-every", "1"])
    step = int((out / "grpo_log.csv").read_text().splitlines()[-1].split(",")[0])
    assert 2 <= step < 2000 and (out / "checkpoints" / "latest").read_text() == f"step-{step:07d}"
    assert signal.getsignal(signal.SIGTERM) is before
