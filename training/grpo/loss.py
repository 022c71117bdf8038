"""The GRPO objective: sampling distribution, group advantages, clipped ratio, entropy bonus.

The importance ratio pi_new / pi_old must compare the SAME distribution the rollouts were drawn from.
The original project sampled from a temperature-scaled top-k softmax but scored old log-probs without
temperature over the top-k renormalised softmax, so its ratio was off from the first step. Here one
function, `sampling_logprobs`, defines that distribution (temperature, then an optional support: the
grammar's allowed tokens and/or the top-k kept at sampling time), and both the rollout (old policy)
and the update (new policy) go through it with the same temperature and support.
"""
import math

import torch
import torch.nn.functional as F


def sampling_logprobs(logits: torch.Tensor, temperature: float, support: torch.Tensor | None = None) -> torch.Tensor:
    """log pi(. | prefix) of the sampling distribution: softmax(logits / T) over the whole vocabulary,
    or renormalised over `support` (bool, same shape) when top-k or a grammar restricted sampling."""
    logits = logits.float() / temperature
    if support is not None:
        logits = logits.masked_fill(~support, float("-inf"))
    return F.log_softmax(logits, dim=-1)


def top_k_support(logits: torch.Tensor, k: int, allowed: torch.Tensor | None = None) -> torch.Tensor | None:
    """The tokens sampling may pick: the `allowed` ones (grammar), then the k best of those (k = 0: all).
    None when nothing is restricted (the full softmax)."""
    if allowed is None and not (0 < k < logits.shape[-1]):
        return None
    support = torch.ones_like(logits, dtype=torch.bool) if allowed is None else allowed.clone()
    if 0 < k < logits.shape[-1]:
        ranked = logits.float().masked_fill(~support, float("-inf"))
        threshold = ranked.topk(k, dim=-1).values[..., -1:]
        support &= ranked >= threshold
    return support


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-4) -> torch.Tensor:
    """(B * G,) rewards, groups contiguous -> (reward - group mean) / (group std + eps). A group whose
    rollouts all score the same gets 0: nothing to prefer."""
    groups = rewards.view(-1, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    return (centred / (groups.std(dim=1, keepdim=True, unbiased=group_size > 1) + eps)).flatten()


def clipped_objective(new_logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                      mask: torch.Tensor, epsilon: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO/GRPO surrogate, averaged over each rollout's own tokens, then over rollouts.
    new_logp, old_logp, mask: (R, T) chosen-token log-probs and valid-token mask; advantages (R,).
    -> (objective to maximise, ratios (R, T))."""
    ratio = torch.exp(new_logp - old_logp.detach())
    advantage = advantages[:, None]
    per_token = torch.minimum(ratio * advantage, ratio.clamp(1 - epsilon, 1 + epsilon) * advantage)
    mask = mask.to(per_token.dtype)
    per_rollout = (per_token * mask).sum(1) / mask.sum(1).clamp(min=1)
    return per_rollout.mean(), ratio


def normalised_entropy(logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean per-token entropy of the sampling distribution over a rollout's T tokens, over ln V:
    entropy / (T ln V), in [0, 1]; averaged over rollouts. logp: (R, T, V) from sampling_logprobs."""
    # outside the support p = 0 and log p = -inf: count 0 there, without a NaN in the backward pass
    entropy = -(logp.exp() * logp.masked_fill(torch.isinf(logp), 0.0)).sum(-1)
    mask = mask.to(entropy.dtype)
    per_rollout = (entropy * mask).sum(1) / mask.sum(1).clamp(min=1)
    return per_rollout.mean() / math.log(logp.shape[-1])


__all__ = ["sampling_logprobs", "top_k_support", "group_advantages", "clipped_objective", "normalised_entropy"]
