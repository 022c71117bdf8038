"""One GRPO step on a batch of images: rollouts -> rewards -> group advantages -> inner updates.

Only the decoder learns: encoder and transition head are frozen (`freeze_for_grpo`), so encoder
states are computed once per batch without gradients and shared by the G rollouts of each image.
The model runs with dropout off throughout: rollouts and updates must score tokens with the same
deterministic policy, so that the importance ratio is exactly 1 at the first inner step.
"""
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from transformers.models.vision_encoder_decoder.modeling_vision_encoder_decoder import shift_tokens_right

from training.grpo.loss import clipped_objective, group_advantages, normalised_entropy
from training.grpo.rewards import (length_penalty, note_f1_reward, repeat_penalty, tedn_reward, weighted_rewards,
                                   wellformedness_reward)
from training.grpo.rollouts import decode_rollouts, policy_logprobs, sample_rollouts


@dataclass
class GRPOSettings:
    """What stays fixed over a run; what anneals lives in grpo_schedule.Curriculum."""

    group_size: int = 8
    inner_steps: int = 2  # updates per batch of rollouts (mu); the ratio matters from the second on
    epsilon: float = 0.2
    grad_clip: float = 1.0
    # reward weights (l_t, l_w, l_f, l_r); l_l comes from the curriculum
    weights: dict = field(default_factory=lambda: {"tedn": 0.35, "wellformedness": 0.10, "note_f1": 0.25,
                                                   "repeat": 0.15})
    tedn_alpha: float = 0.01
    tedn_scale: str = "edit_cost"
    wf_alpha: float = 0.2
    wf_gamma: float = 3.0
    length_delta: int = 10
    length_tau: float = 100.0
    reward_workers: int | None = None  # processes for TEDn (None: all cores)


def reward_setup(settings: GRPOSettings, length_weight: float):
    """(callables, weights) in TRL's form: penalties enter with negative weights."""
    funcs = [
        partial(tedn_reward, alpha=settings.tedn_alpha, scale=settings.tedn_scale, workers=settings.reward_workers),
        partial(wellformedness_reward, alpha=settings.wf_alpha, gamma=settings.wf_gamma),
        note_f1_reward,
        repeat_penalty,
        partial(length_penalty, delta=settings.length_delta, tau=settings.length_tau),
    ]
    w = settings.weights
    weights = [w["tedn"], w["wellformedness"], w["note_f1"], -w["repeat"], -length_weight]
    return funcs, weights


REWARD_NAMES = ("tedn", "wellformedness", "note_f1", "repeat", "length")


def freeze_for_grpo(model) -> list[torch.nn.Parameter]:
    """Freezes encoder and transition head; returns the decoder's parameters (what GRPO trains)."""
    for module in (model.encoder, model.transition):
        module.requires_grad_(False)
    return [p for p in model.decoder.parameters() if p.requires_grad]


def grpo_step(model, optimizer, batch: dict, tokenizer, settings: GRPOSettings, values: dict,
              autocast=nullcontext, generator: torch.Generator | None = None, grammar=None,
              average_gradients=None) -> dict:
    """batch: pixel_values, pixel_mask, labels (tensors) and lmx, musicxml (gold strings per image).
    values: the curriculum's values now (grpo_schedule.Curriculum.at). `average_gradients`, when
    several processes train, all-reduces the decoder's gradients before each optimizer step."""
    model.eval()  # dropout off: see the module docstring
    group = settings.group_size
    device = next(model.parameters()).device
    with torch.no_grad(), autocast():
        states, states_mask = model.encode(batch["pixel_values"].to(device), batch["pixel_mask"].to(device))
        group_states, group_mask = states.repeat_interleave(group, 0), states_mask.repeat_interleave(group, 0)
        rollouts = sample_rollouts(model, group_states, group_mask, values["max_new_tokens"], values["temperature"],
                                   values["top_k"], grammar, generator)

    completions = decode_rollouts(tokenizer, rollouts)
    golds = {key: [v for v in batch[key] for _ in range(group)] for key in ("lmx", "musicxml")}
    funcs, weights = reward_setup(settings, values["length_weight"])
    totals, components = weighted_rewards(completions, funcs, weights, **golds)
    rewards = torch.tensor(totals, dtype=torch.float32, device=device)
    advantages = group_advantages(rewards, group)

    params = [p for p in model.decoder.parameters() if p.requires_grad]
    metrics = {"reward": rewards.mean().item(), "reward_std": rewards.std().item() if len(totals) > 1 else 0.0,
               "rollout_tokens": rollouts.mask.sum(1).float().mean().item(),
               "ended": (rollouts.tokens == model.config.eos_token_id).any(1).float().mean().item()}
    metrics.update({f"r_{name}": sum(v) / len(v) for name, v in zip(REWARD_NAMES, components)})
    for inner in range(settings.inner_steps):
        with autocast():
            new_logp, full_logp = policy_logprobs(model, group_states, group_mask, rollouts, values["temperature"])
            objective, ratio = clipped_objective(new_logp, rollouts.logprobs, advantages, rollouts.mask,
                                                 settings.epsilon)
            entropy = normalised_entropy(full_logp, rollouts.mask)
            loss = -(objective + values["entropy_beta"] * entropy)
            ce = teacher_forced_ce(model, states, states_mask, batch["labels"].to(device)) \
                if values["ce_weight"] > 0 else torch.zeros((), device=device)
            loss = loss + values["ce_weight"] * ce
        loss.backward()
        if average_gradients is not None:
            average_gradients(params)
        if settings.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        valid = ratio.detach()[rollouts.mask]
        if inner == 0:
            metrics["ratio_first_maxdev"] = (valid - 1).abs().max().item() if valid.numel() else 0.0
        metrics.update(loss=loss.item(), objective=objective.item(), entropy=entropy.item(), ce=ce.item(),
                       ratio_mean=valid.mean().item() if valid.numel() else 1.0,
                       clip_frac=((valid - 1).abs() > settings.epsilon).float().mean().item() if valid.numel() else 0.0)
    metrics["completions"] = completions
    return metrics


def teacher_forced_ce(model, states, states_mask, labels):
    """CE of the decoder on the gold labels (-100 padded), on the frozen encoder states."""
    inputs = shift_tokens_right(labels, model.config.pad_token_id, model.config.decoder_start_token_id)
    logits = model.decoder(input_ids=inputs, encoder_hidden_states=states, encoder_attention_mask=states_mask,
                           use_cache=False).logits
    return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)


__all__ = ["GRPOSettings", "grpo_step", "freeze_for_grpo", "reward_setup", "teacher_forced_ce", "REWARD_NAMES"]
