"""Configuration of the Acai OMR model: a ViT encoder, an MLP transition head and a causal decoder.

`AcaiOMRConfig` is a `VisionEncoderDecoderConfig` whose two sub-configs are our own encoder and decoder
configs; the transition head's hyperparameters sit on the top-level config. Named presets (`small`,
`base`, `tiny`) are built with `AcaiOMRConfig.from_preset(name, **overrides)`.
"""
import copy

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig, VisionEncoderDecoderConfig

# The LMX tokenizer's fixed special ids (acai_hf/model/tokenization_acai.py); 4 specials + 224 LMX tokens.
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
VOCAB_SIZE = 228


@strict
class AcaiEncoderConfig(PreTrainedConfig):
    r"""
    ViT over grayscale images. `stem` is "linear" (one 16x16 projection per patch, as in ViT) or "conv"
    (log2(patch_size) 3x3 stride-2 convolutions with `stem_channels`, then a 1x1 projection).
    `position_embedding` is "sincos" (fixed 2-D sin-cos, any grid) or "learned" (row + column tables
    of `max_grid_height` / `max_grid_width`). `max_patches` is the patch budget the image processor
    scales images to; it is stored here so that a checkpoint says what it was trained on.
    """

    model_type = "acai-omr-encoder"

    hidden_size: int = 256
    num_hidden_layers: int = 6
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    hidden_act: str = "gelu"
    hidden_dropout_prob: float | int = 0.0
    attention_probs_dropout_prob: float | int = 0.0
    layer_norm_eps: float = 1e-6
    initializer_range: float = 0.02
    qkv_bias: bool = True
    num_channels: int = 1
    patch_size: int = 16
    stem: str = "linear"
    stem_channels: list[int] | tuple[int, ...] = (32, 64, 128, 256)
    position_embedding: str = "sincos"
    max_grid_height: int = 32
    max_grid_width: int = 256
    max_patches: int = 1024

    def __post_init__(self, **kwargs):
        if self.stem not in ("linear", "conv"):
            raise ValueError(f"stem must be 'linear' or 'conv', got {self.stem!r}")
        if self.stem == "conv" and 2 ** len(self.stem_channels) != self.patch_size:
            raise ValueError("a conv stem needs log2(patch_size) stride-2 stages: one entry of stem_channels each")
        if self.position_embedding not in ("sincos", "learned"):
            raise ValueError(f"position_embedding must be 'sincos' or 'learned', got {self.position_embedding!r}")
        if self.hidden_size % 4:
            raise ValueError("2-D sin-cos positions need hidden_size divisible by 4")
        self.stem_channels = list(self.stem_channels)
        super().__post_init__(**kwargs)


@strict
class AcaiDecoderConfig(PreTrainedConfig):
    r"""
    Pre-norm causal transformer decoder with cross-attention and learned positions up to
    `max_position_embeddings` tokens (the longest sequence, start token included, it can emit).
    """

    model_type = "acai-omr-decoder"
    keys_to_ignore_at_inference = ["past_key_values"]

    vocab_size: int = VOCAB_SIZE
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    hidden_act: str = "gelu"
    dropout: float | int = 0.1
    attention_dropout: float | int = 0.0
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    max_position_embeddings: int = 1536
    use_cache: bool = True
    is_decoder: bool = True
    add_cross_attention: bool = True
    tie_word_embeddings: bool = False
    pad_token_id: int | None = PAD_ID
    bos_token_id: int | None = BOS_ID
    eos_token_id: int | list[int] | None = EOS_ID
    decoder_start_token_id: int | None = BOS_ID


@strict
class AcaiOMRConfig(VisionEncoderDecoderConfig):
    r"""
    The whole model. `transition_intermediate_size` is the hidden width of the MLP that maps encoder
    states (encoder.hidden_size) to the decoder's width (decoder.hidden_size); 0 makes it one linear layer.
    """

    model_type = "acai-omr"
    sub_configs_defaults = {"encoder": AcaiEncoderConfig, "decoder": AcaiDecoderConfig}

    transition_intermediate_size: int = 1024
    transition_act: str = "gelu"
    transition_dropout: float | int = 0.05
    # LayerNorm on the transition's output: cross-attention then sees unit-scale keys/values. Without it
    # the MLP's small initial outputs make cross-attention uniform, and training learns to ignore the
    # image (measured: dev CE identical with true and shuffled images after 200 steps). False only
    # for configs saved before it existed.
    transition_layer_norm: bool = False
    # Subtract each image's mean (over its unpadded patches) from the transition's output, before the
    # LayerNorm. Cross-attention then cannot pass on a constant vector: in runs without it the decoder
    # used the image path as a learned bias, and training collapsed every image to that one vector
    # (dev CE identical with true and swapped images; see training/README.md).
    transition_center: bool = False
    # Weight of the auxiliary bag-of-tokens loss (0: no head). A linear head on the mean of the encoder's
    # output predicts how often each token occurs in the system, which asks the encoder for content
    # from the first step, while the decoder still learns mostly from its own token history.
    bag_loss_weight: float | int = 0.0
    # Weight of the auxiliary dense loss (0: no head). A linear head on every patch of the transition's
    # output (what cross-attention reads) says which tokens' symbols the patch holds (notehead by pitch, rest, accidental, clef, ...),
    # learnt from the engraver's geometry (training/geometry/targets.py): the encoder is told what is
    # where instead of finding it through the decoder's cross-entropy. Training only.
    dense_loss_weight: float | int = 0.0
    pad_token_id: int | None = PAD_ID
    bos_token_id: int | None = BOS_ID
    eos_token_id: int | None = EOS_ID
    decoder_start_token_id: int | None = BOS_ID
    vocab_size: int = VOCAB_SIZE
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.vocab_size = self.decoder.vocab_size

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "AcaiOMRConfig":
        """A named preset; `encoder=` / `decoder=` dicts update the sub-configs, other keys the top level."""
        if name not in PRESETS:
            raise KeyError(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
        kwargs = copy.deepcopy(PRESETS[name])
        for key in ("encoder", "decoder"):
            kwargs[key].update(overrides.pop(key, {}))
        kwargs.update(overrides)
        return cls(**kwargs)


# `small`: the CPU model we train and ship. Shape chosen by speed on this 2-core AVX2 CPU
# (bench/model_shapes.py, bench/inference.py): the plain linear patch stem (the conv stem cost +30%
# training time and collapsed as fast, see training/README.md), a 4-layer decoder because decoding is
# bound by reading weights and cross-attention keys every step.
# Images: 160 px high (~6.5 px per staff space), at most 640 patches (10 x 64).
# `base`: the original project's size. `tiny`: for tests only.
PRESETS = {
    "small": {
        "encoder": {
            "hidden_size": 256,
            "num_hidden_layers": 6,
            "num_attention_heads": 4,
            "intermediate_size": 1024,
            "stem": "linear",
            "hidden_dropout_prob": 0.05,
            "max_patches": 640,
        },
        "decoder": {
            "hidden_size": 256,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "intermediate_size": 1024,
            "dropout": 0.1,
            "max_position_embeddings": 1536,
        },
        "transition_intermediate_size": 1024,
        "transition_dropout": 0.05,
        "transition_layer_norm": True,
        "transition_center": True,
        "bag_loss_weight": 1.0,
    },
    "base": {
        "encoder": {
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "stem": "linear",
            "hidden_dropout_prob": 0.05,
            "max_patches": 1024,
        },
        "decoder": {
            "hidden_size": 1024,
            "num_hidden_layers": 12,
            "num_attention_heads": 16,
            "intermediate_size": 4096,
            "dropout": 0.1,
            "max_position_embeddings": 1536,
        },
        "transition_intermediate_size": 4096,
        "transition_dropout": 0.05,
        "transition_layer_norm": True,
        "transition_center": True,
    },
    "tiny": {
        "encoder": {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "stem": "linear",
            "max_patches": 64,
        },
        "decoder": {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "dropout": 0.0,
            "max_position_embeddings": 64,
        },
        "transition_intermediate_size": 64,
        "transition_dropout": 0.0,
        "transition_layer_norm": True,
        "transition_center": True,
    },
}

__all__ = ["AcaiEncoderConfig", "AcaiDecoderConfig", "AcaiOMRConfig", "PRESETS"]
