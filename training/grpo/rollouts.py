"""GRPO rollouts: sample a group of transcriptions per image and keep what the ratio needs.

Our own sampling loop rather than `generate()`: each step's distribution goes through
`grpo_loss.sampling_logprobs`, the same function that later scores the tokens under the updated
policy, so old and new log-probs are taken from the very same distribution (temperature, support).
"""
from dataclasses import dataclass

import torch

from acai_hf.model.modeling_acai import growing_cache
from training.grpo.loss import sampling_logprobs, top_k_support


@dataclass
class Rollouts:
    """R = images x group size, T = longest rollout. Rows of one group are contiguous."""

    tokens: torch.Tensor  # (R, T) sampled ids, <eos> included, pad after it
    logprobs: torch.Tensor  # (R, T) log-prob of each token under the sampling (old) policy
    mask: torch.Tensor  # (R, T) bool: a sampled token (up to and including <eos>)
    support: torch.Tensor | None  # (R, T, V) bool tokens sampling could pick; None: full softmax


@torch.no_grad()
def sample_rollouts(model, states, states_mask, max_new_tokens: int, temperature: float = 1.0,
                    top_k: int = 0, grammar: torch.Tensor | None = None,
                    generator: torch.Generator | None = None) -> Rollouts:
    """Ancestral sampling with a KV cache. `grammar` is an optional (V, V) table of allowed next tokens
    (acai_hf.model.generation_acai.lmx_transition_table); with it or with top_k the support is recorded."""
    config = model.config
    decoder = model.decoder
    max_new_tokens = min(max_new_tokens, config.decoder.max_position_embeddings)
    rows = states.shape[0]
    device = states.device
    previous = torch.full((rows, 1), config.decoder_start_token_id, dtype=torch.long, device=device)
    cache = growing_cache()
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    tokens, logprobs, masks, supports = [], [], [], []
    for _ in range(max_new_tokens):
        logits = decoder(input_ids=previous, encoder_hidden_states=states, encoder_attention_mask=states_mask,
                         past_key_values=cache, use_cache=True).logits[:, -1]
        allowed = None if grammar is None else grammar.to(device)[previous[:, 0], : logits.shape[-1]]
        support = top_k_support(logits, top_k, allowed)
        logp = sampling_logprobs(logits, temperature, support)
        token = torch.multinomial(logp.exp(), 1, generator=generator)[:, 0]
        token = token.masked_fill(finished, config.pad_token_id)
        tokens.append(token)
        logprobs.append(logp.gather(1, token[:, None])[:, 0].masked_fill(finished, 0.0))
        masks.append(~finished)
        if support is not None:
            supports.append(support)
        finished = finished | (token == config.eos_token_id)
        previous = token[:, None]
        if bool(finished.all()):
            break
    return Rollouts(
        tokens=torch.stack(tokens, 1),
        logprobs=torch.stack(logprobs, 1),
        mask=torch.stack(masks, 1),
        support=torch.stack(supports, 1) if supports else None,
    )


def policy_logprobs(model, states, states_mask, rollouts: Rollouts, temperature: float):
    """Teacher-forced pass of the current policy over the rollouts -> (chosen-token log-probs (R, T),
    full sampling log-probs (R, T, V)), in the sampling distribution (same temperature and support)."""
    start = torch.full_like(rollouts.tokens[:, :1], model.config.decoder_start_token_id)
    inputs = torch.cat([start, rollouts.tokens[:, :-1]], dim=1)
    logits = model.decoder(input_ids=inputs, encoder_hidden_states=states, encoder_attention_mask=states_mask,
                           use_cache=False).logits
    logp = sampling_logprobs(logits, temperature, rollouts.support)
    chosen = logp.gather(-1, rollouts.tokens[..., None])[..., 0]
    return chosen.masked_fill(~rollouts.mask, 0.0), logp


def decode_rollouts(tokenizer, rollouts: Rollouts) -> list[str]:
    """LMX strings of the rollouts (specials dropped)."""
    return tokenizer.batch_decode(rollouts.tokens.masked_fill(~rollouts.mask, tokenizer.pad_token_id).tolist(),
                                  skip_special_tokens=True)


__all__ = ["Rollouts", "sample_rollouts", "policy_logprobs", "decode_rollouts"]
