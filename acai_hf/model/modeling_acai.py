"""Acai OMR model: ViT encoder over grayscale systems -> MLP transition head -> causal LMX decoder.

The parts live in their own files: `modeling_acai_encoder.py` (ViT, 2-D positions, padding masks),
`modeling_acai_decoder.py` (the decoder and its decoding step), `cache_acai.py` (the KV cache) and
`modeling_acai_layers.py` (shared blocks). This module joins them into the encoder-decoder model and
re-exports their public names, so `from acai_hf.model.modeling_acai import ...` keeps working.
"""
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel, VisionEncoderDecoderModel
from transformers.activations import ACT2FN
from transformers.modeling_outputs import Seq2SeqLMOutput
from transformers.models.vision_encoder_decoder.modeling_vision_encoder_decoder import shift_tokens_right

from acai_hf.model.cache_acai import GrowingCache, GrowingLayer, growing_cache  # noqa: F401  (re-exported)
from acai_hf.model.configuration_acai import AcaiOMRConfig
from acai_hf.model.modeling_acai_decoder import AcaiDecoderForCausalLM, AcaiDecoderLayer  # noqa: F401  (re-exported)
from acai_hf.model.modeling_acai_encoder import (  # noqa: F401  (re-exported)
    AcaiEncoderLayer,
    AcaiEncoderModel,
    AcaiEncoderOutput,
    AcaiPatchEmbeddings,
    ChannelLayerNorm,
    patch_mask,
    sincos_2d,
)
from acai_hf.model.modeling_acai_layers import AcaiMLP, AcaiPreTrainedModel, attend, split_heads  # noqa: F401  (re-exported)

# generate() keyword arguments the lean decoding-step input preparation handles; the image inputs are
# consumed by the first step (the encoder) and dropped afterwards, as transformers does
_PREFILL_ONLY = frozenset({"pixel_values", "pixel_mask"})
_LEAN_KEYS = _PREFILL_ONLY | {"encoder_outputs", "use_cache", "logits_to_keep", "decoder_attention_mask",
                              "output_attentions", "output_hidden_states"}


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
        self.norm = nn.LayerNorm(dec) if config.transition_layer_norm else nn.Identity()
        self.center = config.transition_center

    def forward(self, x, mask=None):
        """x: (B, N, enc) encoder states; mask: (B, N) patch mask (1 = image), used for the centring mean."""
        x = self.mlp(x)
        if self.center:
            x = x - masked_mean(x, mask)[:, None]
        return self.norm(x)


def masked_mean(x, mask=None):
    """(B, N, D), (B, N) -> (B, D): the mean over the unmasked positions."""
    if mask is None:
        return x.mean(1)
    weights = mask.to(x.dtype)[..., None]
    return (x * weights).sum(1) / weights.sum(1).clamp(min=1)


DENSE_PRIOR_LOGIT = -4.6  # log(0.01 / 0.99)


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
        # training-only auxiliary head (see AcaiOMRConfig.bag_loss_weight); inference never calls it
        self.bag_head = None
        if config.bag_loss_weight:
            self.bag_head = nn.Linear(config.encoder.hidden_size, config.decoder.vocab_size)
        self.dense_head = None  # training-only too (see AcaiOMRConfig.dense_loss_weight)
        if config.dense_loss_weight:
            self.dense_head = nn.Linear(config.decoder.hidden_size, config.decoder.vocab_size)
        self.post_init()
        self.generation_config.max_length = config.decoder.max_position_embeddings
        self.generation_config.decoder_start_token_id = config.decoder_start_token_id
        self.generation_config.bos_token_id = config.bos_token_id
        self.generation_config.eos_token_id = config.eos_token_id
        self.generation_config.pad_token_id = config.pad_token_id

    def _init_weights(self, module):
        super()._init_weights(module)
        if module is getattr(self, "dense_head", None):
            # Each patch holds few of the ~228 tokens' symbols: starting every logit at the log-odds of a
            # 1% prior makes the initial loss ~0.1 nats per token instead of 0.69 (157 per patch), which
            # at the warm-up's learning rate took the bias alone hundreds of steps to unlearn.
            nn.init.constant_(module.bias, DENSE_PRIOR_LOGIT)

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

    def prepare_inputs_for_generation(self, input_ids, next_sequence_length=None, past_key_values=None,
                                      is_first_iteration=False, **kwargs):
        # The decoding hot path (one new token on a cache) in a few dictionary operations; transformers'
        # general version walks the parameters twice per step (`self.device`) and sorts every keyword.
        # Anything else (prefill, no cache, position ids, embeddings) goes through the general version.
        hot_path = not is_first_iteration and next_sequence_length == 1 and past_key_values is not None
        if not hot_path or not kwargs.keys() <= _LEAN_KEYS:
            return super().prepare_inputs_for_generation(
                input_ids, next_sequence_length=next_sequence_length, past_key_values=past_key_values,
                is_first_iteration=is_first_iteration, **kwargs,
            )
        inputs = {key: value for key, value in kwargs.items() if key not in _PREFILL_ONLY}
        inputs["decoder_input_ids"] = input_ids[:, -1:]
        inputs["past_key_values"] = past_key_values
        return inputs

    def encode(self, pixel_values, pixel_mask=None, with_encoder_output=False):
        """-> (decoder-width encoder states, patch mask): what the decoder's cross-attention reads;
        plus the encoder's own last hidden state (what the bag-of-tokens head reads) if asked."""
        out = self.encoder(pixel_values=pixel_values, pixel_mask=pixel_mask)
        states = self.transition(out.last_hidden_state, out.attention_mask)
        if with_encoder_output:
            return states, out.attention_mask, out.last_hidden_state
        return states, out.attention_mask

    def bag_of_tokens_loss(self, encoder_last_state, encoder_mask, labels):
        """Cross-entropy between the token frequencies of each system's labels and a prediction from the
        mean of its (unpadded) encoder output."""
        log_probs = F.log_softmax(self.bag_head(masked_mean(encoder_last_state, encoder_mask)).float(), dim=-1)
        valid = labels != -100
        counts = torch.zeros_like(log_probs).scatter_add_(1, labels.clamp(min=0), valid.to(log_probs.dtype))
        frequencies = counts / counts.sum(1, keepdim=True).clamp(min=1)
        return -(frequencies * log_probs).sum(1).mean()

    def dense_loss(self, encoder_states, encoder_mask, targets, vocab_weights=None):
        """-> (loss, logits): binary cross-entropy of every (unpadded) patch's prediction of which
        tokens' symbols it holds, summed over the vocabulary (each token's term times `vocab_weights`,
        (V,), where given) and averaged over patches.
        encoder_states: the transition's output, what cross-attention reads (the encoder's own last
        state varied across patches by ~0.002 in a trained run: too little for a linear head to learn
        from); targets: (B, N, V) multi-hot (training.geometry.targets.dense_targets)."""
        logits = self.dense_head(encoder_states).float()
        per_token = F.binary_cross_entropy_with_logits(logits, targets.float(), reduction="none")
        if vocab_weights is not None:
            per_token = per_token * vocab_weights.to(per_token.dtype)
        per_patch = per_token.sum(-1)
        mask = encoder_mask.to(per_patch.dtype) if encoder_mask is not None else torch.ones_like(per_patch)
        return (per_patch * mask).sum() / mask.sum().clamp(min=1), logits

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
        logits_to_keep=0,
        **kwargs,
    ):
        r"""
        logits_to_keep (`int`, *optional*, defaults to 0):
            Compute logits only for the last `logits_to_keep` positions (0: all); generate() asks for 1.
        """
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
            encoder_states = self.transition(encoder_outputs.last_hidden_state, encoder_mask)
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
            logits_to_keep=logits_to_keep,
        )
        loss = None
        if labels is not None:
            logits = decoder_outputs.logits
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
            if self.training and self.bag_head is not None:
                bag = self.bag_of_tokens_loss(encoder_outputs.last_hidden_state, encoder_mask, labels)
                loss = loss + self.config.bag_loss_weight * bag
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
    "AcaiPreTrainedModel",
    "count_parameters",
    "growing_cache",
]
