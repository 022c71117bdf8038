"""The Acai OMR decoder: a pre-norm causal transformer over LMX tokens with cross-attention to the image.

Keys/values live in an `EncoderDecoderCache` (by default `cache_acai.growing_cache()`), so `generate()`
(greedy, beam, sampling) works as for any seq2seq model. One decoding step costs a few dozen small
tensor operations per layer, so the step is written to issue as few as possible: one projection for
q/k/v, heads split by a single view + permute, cross-attention keys/values computed once per sequence,
no mask at all when a single new token attends to its whole prefix, dropout calls only in training,
and logits only for the positions generate() reads.
"""
import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import CausalLMOutputWithCrossAttentions

from acai_hf.model.cache_acai import growing_cache
from acai_hf.model.configuration_acai import AcaiDecoderConfig
from acai_hf.model.modeling_acai_layers import AcaiMLP, AcaiPreTrainedModel, attend, split_heads


def heads_of(projected: torch.Tensor, parts: int, heads: int) -> torch.Tensor:
    """(B, T, parts * D) from one fused projection -> (parts, B, heads, T, D / heads) views, no copy."""
    batch, length, _ = projected.shape
    return projected.view(batch, length, parts, heads, -1).permute(2, 0, 3, 1, 4)


class AcaiDecoderLayer(GradientCheckpointingLayer):
    """Pre-norm block: causal self-attention, cross-attention to the image, MLP."""

    def __init__(self, config: AcaiDecoderConfig, layer_idx: int):
        super().__init__()
        dim = config.hidden_size
        self.layer_idx = layer_idx
        self.heads = config.num_attention_heads
        self.attention_dropout = config.attention_dropout
        self.norm1 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.self_out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.cross_q = nn.Linear(dim, dim)
        self.cross_kv = nn.Linear(dim, 2 * dim)
        self.cross_out = nn.Linear(dim, dim)
        self.norm3 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.mlp = AcaiMLP(dim, config.intermediate_size, config.hidden_act, config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        # Training can ask for the cross-attention probabilities (B, heads, T, N), e.g. for an
        # attention-guiding loss; the explicit softmax costs more than the fused kernel, so it is opt-in.
        self.record_cross_attention = False
        self.cross_attention_probs = None

    def cross_keys_values(self, encoder_hidden_states, cache=None):
        """Cross-attention keys/values (B, H, N, d): computed from the encoder states on a sequence's
        first step, then read from the cache."""
        if cache is not None and cache.is_updated.get(self.layer_idx):
            layer = cache.cross_attention_cache.layers[self.layer_idx]
            return layer.keys, layer.values
        key, value = heads_of(self.cross_kv(encoder_hidden_states), 2, self.heads)
        if cache is not None:
            # Cached keys/values are read on every later step, and SDPA reads the strided views of the
            # fused projection more slowly: copy them contiguous once. A single use (training) needs no copy.
            key, value = cache.cross_attention_cache.update(key.contiguous(), value.contiguous(), self.layer_idx)
            cache.is_updated[self.layer_idx] = True
        return key, value

    def forward(self, hidden_states, encoder_hidden_states, self_mask=None, cross_mask=None, cache=None,
                is_causal=False):
        training = self.training
        dropout = self.attention_dropout if training else 0.0
        query, key, value = heads_of(self.qkv(self.norm1(hidden_states)), 3, self.heads)
        if cache is not None:
            key, value = cache.self_attention_cache.update(key, value, self.layer_idx)
        update = self.self_out(attend(query, key, value, self_mask, dropout, is_causal=is_causal))
        hidden_states = hidden_states + (self.dropout(update) if training else update)

        query = split_heads(self.cross_q(self.norm2(hidden_states)), self.heads)
        key, value = self.cross_keys_values(encoder_hidden_states, cache)
        if self.record_cross_attention:
            scores = query @ key.transpose(-1, -2) * query.shape[-1] ** -0.5
            if cross_mask is not None:
                scores = scores.masked_fill(~cross_mask, torch.finfo(scores.dtype).min)
            self.cross_attention_probs = scores.softmax(-1)
            attended = F.dropout(self.cross_attention_probs, dropout, training) @ value
            update = self.cross_out(attended.transpose(1, 2).flatten(2))
        else:
            update = self.cross_out(attend(query, key, value, cross_mask, dropout))
        hidden_states = hidden_states + (self.dropout(update) if training else update)
        return hidden_states + self.mlp(self.norm3(hidden_states))


class AcaiDecoderForCausalLM(AcaiPreTrainedModel, GenerationMixin):
    """Causal LMX decoder with learned positions."""

    config: AcaiDecoderConfig
    config_class = AcaiDecoderConfig

    def __init__(self, config: AcaiDecoderConfig):
        super().__init__(config)
        dim = config.hidden_size
        self.embed_tokens = nn.Embedding(config.vocab_size, dim, padding_idx=config.pad_token_id)
        self.embed_positions = nn.Embedding(config.max_position_embeddings, dim)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList([AcaiDecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        self.norm = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.lm_head = nn.Linear(dim, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    @staticmethod
    def _self_attention_mask(attention_mask, q_len, past, device):
        """-> (bool mask or None, is_causal). A pure causal pass lets SDPA build the mask itself."""
        if attention_mask is None and (past == 0 or q_len == 1):
            return None, q_len > 1
        kv_len = past + q_len
        rows = torch.arange(q_len, device=device)[:, None] + past
        mask = torch.arange(kv_len, device=device)[None, :] <= rows  # causal, offset by the cached prefix
        if attention_mask is not None:
            attention_mask = attention_mask[:, -kv_len:].bool()
            # every position keeps itself, so that a fully padded row cannot turn into NaN
            mask = (mask & attention_mask[:, None, :]) | (torch.arange(kv_len, device=device)[None, :] == rows)
            return mask[:, None], False
        return mask[None, None], False

    def _position_embeddings(self, position_ids, attention_mask, past, q_len, device):
        if position_ids is None and attention_mask is not None:  # left-padded prompts count from their start
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -q_len:]
        if position_ids is None:  # the common case: one slice of the table, no index tensor
            if past + q_len > self.config.max_position_embeddings:
                raise IndexError(f"position {past + q_len - 1} is beyond max_position_embeddings "
                                 f"({self.config.max_position_embeddings})")
            return self.embed_positions.weight[past: past + q_len]
        return self.embed_positions(position_ids)

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        past_key_values=None,
        inputs_embeds=None,
        position_ids=None,
        labels=None,
        use_cache=None,
        output_hidden_states=None,
        return_dict=None,
        logits_to_keep=0,
        **kwargs,
    ):
        r"""
        logits_to_keep (`int`, *optional*, defaults to 0):
            Compute logits only for the last `logits_to_keep` positions (0: all), as generate() asks.
        """
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if self.training and self.is_activation_checkpointing:  # a replayed layer would write the cache twice
            use_cache = False
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        if use_cache and past_key_values is None:
            past_key_values = growing_cache()
        elif use_cache and not isinstance(past_key_values, EncoderDecoderCache):  # a self-attention cache only
            past_key_values = EncoderDecoderCache(past_key_values, DynamicCache())
        cache = past_key_values if use_cache else None
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        q_len = inputs_embeds.shape[1]
        device = inputs_embeds.device
        hidden_states = inputs_embeds + self._position_embeddings(position_ids, attention_mask, past, q_len, device)
        if self.training:
            hidden_states = self.dropout(hidden_states)

        self_mask, is_causal = self._self_attention_mask(attention_mask, q_len, past, device)
        cross_mask = None
        if encoder_attention_mask is not None and not bool(encoder_attention_mask.all()):
            cross_mask = encoder_attention_mask.bool()[:, None, None, :]

        all_hidden_states = () if output_hidden_states else None
        for layer in self.layers:
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            hidden_states = layer(
                hidden_states, encoder_hidden_states, self_mask, cross_mask, cache=cache, is_causal=is_causal
            )
        hidden_states = self.norm(hidden_states)
        if output_hidden_states:
            all_hidden_states += (hidden_states,)
        logits = self.lm_head(hidden_states[:, -logits_to_keep:] if logits_to_keep else hidden_states)

        loss = None
        if labels is not None:  # labels are aligned with logits (not shifted here)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
        return CausalLMOutputWithCrossAttentions(
            loss=loss, logits=logits, past_key_values=past_key_values if use_cache else None,
            hidden_states=all_hidden_states,
        )


__all__ = ["AcaiDecoderForCausalLM", "AcaiDecoderLayer"]
