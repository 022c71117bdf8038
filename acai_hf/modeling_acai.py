"""Acai OMR model: ViT encoder over grayscale systems -> MLP transition head -> causal LMX decoder.

The encoder takes images of any size within the patch budget: positions are 2-D (sin-cos or learned
row + column tables), and a pixel mask marks batch padding, which is zeroed in the stem, left out of
self-attention and left out of the decoder's cross-attention, so that an image gives the same output
alone or padded in a batch. The decoder keeps its keys/values in a transformers `EncoderDecoderCache`,
so `generate()` (greedy, beam, sampling) works as for any seq2seq model.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel, VisionEncoderDecoderModel
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer, EncoderDecoderCache
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, CausalLMOutputWithCrossAttentions, Seq2SeqLMOutput
from transformers.models.vision_encoder_decoder.modeling_vision_encoder_decoder import shift_tokens_right

from .configuration_acai import AcaiDecoderConfig, AcaiEncoderConfig, AcaiOMRConfig


@dataclass
class AcaiEncoderOutput(BaseModelOutput):
    """Encoder states plus the patch mask (1 = image, 0 = padding); `generate()` expands it for beams."""

    attention_mask: torch.LongTensor | None = None
    # the states after the transition head, kept here at inference so that generate() computes them once
    projected_state: torch.FloatTensor | None = None


def patch_mask(pixel_mask: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, H, W) pixel mask -> (B, H/p, W/p) patch mask: a patch counts if any of its pixels is real."""
    return F.max_pool2d(pixel_mask[:, None].float(), patch_size)[:, 0]


def sincos_2d(grid_h: int, grid_w: int, dim: int, device=None) -> torch.Tensor:
    """Fixed 2-D positions (MAE-style): half the channels encode the row, half the column."""
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, device=device, dtype=torch.float32) / quarter)
    rows = torch.arange(grid_h, device=device, dtype=torch.float32)[:, None] * omega
    cols = torch.arange(grid_w, device=device, dtype=torch.float32)[:, None] * omega
    rows = torch.cat([rows.sin(), rows.cos()], dim=1)[:, None, :].expand(grid_h, grid_w, 2 * quarter)
    cols = torch.cat([cols.sin(), cols.cos()], dim=1)[None, :, :].expand(grid_h, grid_w, 2 * quarter)
    return torch.cat([rows, cols], dim=-1).reshape(grid_h * grid_w, dim)


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, H, W) map: per pixel, so padding cannot leak into it."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class AcaiPatchEmbeddings(nn.Module):
    """Pixels -> one vector per 16x16 patch. The conv stem re-zeroes padding after every stage, so the
    features next to the image's edge equal those of the same image without padding."""

    def __init__(self, config: AcaiEncoderConfig):
        super().__init__()
        self.patch_size = config.patch_size
        self.stages = nn.ModuleList()
        channels = config.num_channels
        if config.stem == "conv":
            for width in config.stem_channels:
                self.stages.append(
                    nn.Sequential(
                        nn.Conv2d(channels, width, 3, stride=2, padding=1),
                        ChannelLayerNorm(width, eps=config.layer_norm_eps),
                        nn.GELU(),
                    )
                )
                channels = width
            self.projection = nn.Conv2d(channels, config.hidden_size, 1)
        else:
            self.projection = nn.Conv2d(channels, config.hidden_size, config.patch_size, stride=config.patch_size)
        if config.position_embedding == "learned":
            self.row_embeddings = nn.Embedding(config.max_grid_height, config.hidden_size)
            self.column_embeddings = nn.Embedding(config.max_grid_width, config.hidden_size)
        self.position_embedding = config.position_embedding

    def forward(self, pixel_values, pixel_mask):
        x = pixel_values * pixel_mask[:, None].to(pixel_values.dtype)
        mask = pixel_mask[:, None].to(pixel_values.dtype)
        for stage in self.stages:
            x = stage(x)
            mask = F.max_pool2d(mask, 2)
            x = x * mask
        x = self.projection(x)  # (B, D, h, w)
        batch, dim, grid_h, grid_w = x.shape
        x = x.flatten(2).transpose(1, 2)
        if self.position_embedding == "learned":
            rows = self.row_embeddings(torch.arange(grid_h, device=x.device))
            cols = self.column_embeddings(torch.arange(grid_w, device=x.device))
            positions = (rows[:, None, :] + cols[None, :, :]).reshape(grid_h * grid_w, dim)
        else:
            positions = sincos_2d(grid_h, grid_w, dim, device=x.device)
        return x + positions.to(x.dtype), (grid_h, grid_w)


def split_heads(x, heads):
    """(B, T, D) -> (B, heads, T, D / heads)."""
    return x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)


def attend(query, key, value, mask, dropout, is_causal=False):
    """Scaled dot-product attention on split heads; mask is boolean, True = attend. -> (B, T, D)."""
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout, is_causal=is_causal)
    return out.transpose(1, 2).flatten(2)


class AcaiMLP(nn.Module):
    def __init__(self, dim, hidden, act, dropout):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = ACT2FN[act]
        self.fc2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.fc2(self.dropout(self.act(self.fc1(x)))))


class AcaiEncoderLayer(GradientCheckpointingLayer):
    """Pre-norm ViT block."""

    def __init__(self, config: AcaiEncoderConfig):
        super().__init__()
        dim = config.hidden_size
        self.heads = config.num_attention_heads
        self.attention_dropout = config.attention_probs_dropout_prob
        self.norm1 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.qkv = nn.Linear(dim, 3 * dim, bias=config.qkv_bias)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.mlp = AcaiMLP(dim, config.intermediate_size, config.hidden_act, config.hidden_dropout_prob)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, key_mask=None):
        q, k, v = (split_heads(x, self.heads) for x in self.qkv(self.norm1(hidden_states)).chunk(3, dim=-1))
        dropout = self.attention_dropout if self.training else 0.0
        hidden_states = hidden_states + self.dropout(self.out(attend(q, k, v, key_mask, dropout)))
        return hidden_states + self.mlp(self.norm2(hidden_states))


class GrowingLayer(DynamicLayer):
    """A DynamicLayer whose keys/values sit in a buffer that doubles when full, so a decoding step
    writes its own token instead of copying the whole prefix (torch.cat). When something else
    replaced `keys` (beam reordering, batch selection), the next update starts a new buffer."""

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        length = self.get_seq_length()
        end = length + key_states.shape[-2]
        buffers = getattr(self, "buffers", None)
        if (buffers is None or self.keys.data_ptr() != buffers[0].data_ptr()
                or buffers[0].shape[:2] != key_states.shape[:2] or end > buffers[0].shape[-2]):
            shape = (*key_states.shape[:2], max(64, 2 * end), key_states.shape[-1])
            buffers = (key_states.new_empty(shape), value_states.new_empty(shape))
            if length:
                buffers[0][..., :length, :] = self.keys
                buffers[1][..., :length, :] = self.values
            self.buffers = buffers
        buffers[0][..., length:end, :] = key_states
        buffers[1][..., length:end, :] = value_states
        self.keys, self.values = buffers[0][..., :end, :], buffers[1][..., :end, :]
        return self.keys, self.values


class GrowingCache(DynamicCache):
    """A DynamicCache of GrowingLayers."""

    def __init__(self):
        Cache.__init__(self, layer_class_to_replicate=GrowingLayer)


def growing_cache() -> EncoderDecoderCache:
    """The decoder's default cache: growing self-attention layers, plain cross-attention layers."""
    return EncoderDecoderCache(GrowingCache(), DynamicCache())


class AcaiPreTrainedModel(PreTrainedModel):
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _no_split_modules = ["AcaiEncoderLayer", "AcaiDecoderLayer"]


class AcaiEncoderModel(AcaiPreTrainedModel):
    """The ViT encoder. `embed` and `encode` are public so that MAE pretraining can drop patches between them."""

    config: AcaiEncoderConfig
    config_class = AcaiEncoderConfig
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    def __init__(self, config: AcaiEncoderConfig):
        super().__init__(config)
        self.embeddings = AcaiPatchEmbeddings(config)
        self.layers = nn.ModuleList([AcaiEncoderLayer(config) for _ in range(config.num_hidden_layers)])
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.projection

    def embed(self, pixel_values, pixel_mask=None):
        """-> patch vectors with positions (B, N, D), patch mask (B, N) and the grid (h, w)."""
        if pixel_mask is None:
            pixel_mask = torch.ones_like(pixel_values[:, 0], dtype=torch.long)
        tokens, grid = self.embeddings(pixel_values, pixel_mask)
        mask = patch_mask(pixel_mask, self.config.patch_size).flatten(1).long()
        return tokens, mask, grid

    def encode(self, tokens, mask=None, output_hidden_states=False):
        key_mask = None if mask is None or bool(mask.all()) else mask.bool()[:, None, None, :]
        hidden_states = [tokens] if output_hidden_states else None
        for layer in self.layers:
            tokens = layer(tokens, key_mask)
            if output_hidden_states:
                hidden_states.append(tokens)
        return self.norm(tokens), hidden_states

    def forward(self, pixel_values, pixel_mask=None, output_hidden_states=None, return_dict=None, **kwargs):
        tokens, mask, _ = self.embed(pixel_values, pixel_mask)
        last, hidden_states = self.encode(tokens, mask, bool(output_hidden_states))
        hidden_states = tuple(hidden_states) if hidden_states else None
        return AcaiEncoderOutput(last_hidden_state=last, hidden_states=hidden_states, attention_mask=mask)


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

    def forward(self, hidden_states, encoder_hidden_states, self_mask=None, cross_mask=None, cache=None,
                is_causal=False):
        dropout = self.attention_dropout if self.training else 0.0
        q, k, v = (split_heads(x, self.heads) for x in self.qkv(self.norm1(hidden_states)).chunk(3, dim=-1))
        if cache is not None:
            k, v = cache.self_attention_cache.update(k, v, self.layer_idx)
        attn = attend(q, k, v, self_mask, dropout, is_causal=is_causal)
        hidden_states = hidden_states + self.dropout(self.self_out(attn))

        q = split_heads(self.cross_q(self.norm2(hidden_states)), self.heads)
        if cache is not None and cache.is_updated.get(self.layer_idx):
            layer = cache.cross_attention_cache.layers[self.layer_idx]
            k, v = layer.keys, layer.values
        else:
            k, v = (split_heads(x, self.heads) for x in self.cross_kv(encoder_hidden_states).chunk(2, dim=-1))
            if cache is not None:
                k, v = cache.cross_attention_cache.update(k, v, self.layer_idx)
                cache.is_updated[self.layer_idx] = True
        attn = attend(q, k, v, cross_mask, dropout)
        hidden_states = hidden_states + self.dropout(self.cross_out(attn))
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
        **kwargs,
    ):
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
        batch, q_len, _ = inputs_embeds.shape
        if position_ids is None and attention_mask is not None:  # left-padded prompts count from their start
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -q_len:]
        elif position_ids is None:
            position_ids = torch.arange(past, past + q_len, device=inputs_embeds.device)[None]
        hidden_states = self.dropout(inputs_embeds + self.embed_positions(position_ids))

        self_mask, is_causal = self._self_attention_mask(attention_mask, q_len, past, hidden_states.device)
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
        logits = self.lm_head(hidden_states)

        loss = None
        if labels is not None:  # labels are aligned with logits (not shifted here)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
        return CausalLMOutputWithCrossAttentions(
            loss=loss, logits=logits, past_key_values=past_key_values if use_cache else None,
            hidden_states=all_hidden_states,
        )


class AcaiTransition(nn.Module):
    """MLP from the encoder's width to the decoder's (768 -> 4096 -> 1024 in the original)."""

    def __init__(self, config: AcaiOMRConfig):
        super().__init__()
        enc, dec, hidden = config.encoder.hidden_size, config.decoder.hidden_size, config.transition_intermediate_size
        dropout = nn.Dropout(config.transition_dropout)
        if hidden:
            self.mlp = nn.Sequential(
                nn.Linear(enc, hidden), ACT2FN[config.transition_act], dropout, nn.Linear(hidden, dec), dropout
            )
        else:
            self.mlp = nn.Sequential(nn.Linear(enc, dec), dropout)

    def forward(self, x):
        return self.mlp(x)


class AcaiOMRForConditionalGeneration(VisionEncoderDecoderModel):
    """Image of one grand-staff system -> LMX token ids. Inputs: `pixel_values` (B, 1, H, W) and
    `pixel_mask` (B, H, W) from `AcaiImageProcessor`; `labels` padded with -100 for training."""

    config: AcaiOMRConfig
    config_class = AcaiOMRConfig
    base_model_prefix = "acai_omr"
    _no_split_modules = ["AcaiEncoderLayer", "AcaiDecoderLayer"]

    def __init__(self, config: AcaiOMRConfig):
        # The parent's __init__ would build sub-models through the Auto classes and add its own
        # linear projection; we build ours directly and put the transition head in its place.
        PreTrainedModel.__init__(self, config)
        config.tie_word_embeddings = False
        self.encoder = AcaiEncoderModel(config.encoder)
        self.decoder = AcaiDecoderForCausalLM(config.decoder)
        self.encoder.config = self.config.encoder
        self.decoder.config = self.config.decoder
        self.transition = AcaiTransition(config)
        self.post_init()
        self.generation_config.max_length = config.decoder.max_position_embeddings
        self.generation_config.decoder_start_token_id = config.decoder_start_token_id
        self.generation_config.bos_token_id = config.bos_token_id
        self.generation_config.eos_token_id = config.eos_token_id
        self.generation_config.pad_token_id = config.pad_token_id

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "AcaiOMRForConditionalGeneration":
        """A randomly initialised model of a named preset (see `AcaiOMRConfig.from_preset`)."""
        return cls(AcaiOMRConfig.from_preset(name, **overrides))

    def get_encoder(self, modality=None):
        return self.encoder

    def generate(self, *args, **kwargs):
        # our growing cache unless the caller chose one (a cache object or a cache_implementation)
        gen_config = kwargs.get("generation_config") or self.generation_config
        wants_cache = kwargs.get("use_cache", gen_config.use_cache) is not False
        chosen = kwargs.get("cache_implementation", gen_config.cache_implementation)
        if wants_cache and kwargs.get("past_key_values") is None and chosen is None:
            kwargs["past_key_values"] = growing_cache()
        return super().generate(*args, **kwargs)

    def encode(self, pixel_values, pixel_mask=None):
        """-> (decoder-width encoder states, patch mask): what the decoder's cross-attention reads."""
        out = self.encoder(pixel_values=pixel_values, pixel_mask=pixel_mask)
        return self.transition(out.last_hidden_state), out.attention_mask

    def forward(
        self,
        pixel_values=None,
        pixel_mask=None,
        decoder_input_ids=None,
        decoder_attention_mask=None,
        encoder_outputs=None,
        past_key_values=None,
        decoder_inputs_embeds=None,
        decoder_position_ids=None,
        labels=None,
        use_cache=None,
        output_hidden_states=None,
        return_dict=None,
        **kwargs,
    ):
        if encoder_outputs is None:
            if pixel_values is None:
                raise ValueError("pass pixel_values or encoder_outputs")
            encoder_outputs = self.encoder(
                pixel_values=pixel_values, pixel_mask=pixel_mask, output_hidden_states=output_hidden_states
            )
        elif isinstance(encoder_outputs, tuple):
            encoder_outputs = AcaiEncoderOutput(*encoder_outputs)
        encoder_mask = getattr(encoder_outputs, "attention_mask", None)
        if encoder_mask is None and pixel_mask is not None:
            encoder_mask = patch_mask(pixel_mask, self.config.encoder.patch_size).flatten(1).long()
        encoder_states = getattr(encoder_outputs, "projected_state", None)
        if encoder_states is None:
            encoder_states = self.transition(encoder_outputs.last_hidden_state)
            if not self.training and isinstance(encoder_outputs, AcaiEncoderOutput):
                encoder_outputs.projected_state = encoder_states

        if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)
        decoder_outputs = self.decoder(
            input_ids=decoder_input_ids,
            attention_mask=decoder_attention_mask,
            encoder_hidden_states=encoder_states,
            encoder_attention_mask=encoder_mask,
            past_key_values=past_key_values,
            inputs_embeds=decoder_inputs_embeds,
            position_ids=decoder_position_ids,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
        )
        loss = None
        if labels is not None:
            logits = decoder_outputs.logits
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        return Seq2SeqLMOutput(
            loss=loss,
            logits=decoder_outputs.logits,
            past_key_values=decoder_outputs.past_key_values,
            decoder_hidden_states=decoder_outputs.hidden_states,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
        )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "AcaiEncoderModel",
    "AcaiDecoderForCausalLM",
    "AcaiOMRForConditionalGeneration",
    "AcaiEncoderOutput",
    "count_parameters",
]

# Auto registrations that waited for this module to finish importing (see registration.py).
from .registration import finish_registration  # noqa: E402

finish_registration(__name__)
