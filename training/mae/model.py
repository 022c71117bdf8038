"""Masked autoencoder (He et al. 2021) around our own encoder, for pretraining it on system images.

The encoder is `AcaiEncoderModel` itself, used through its public halves: `embed` (pixels -> patch
vectors with 2-D positions) and `encode` (transformer over whichever patches we keep). Differences
from the reference MAE, all forced by our inputs:
- Images in a batch differ in size: only valid (non-padding) patches are masked, each image keeps
  round((1 - ratio) * its own valid patches), and the kept sequences are padded to the longest one
  and masked in attention.
- Grids are not square and vary per batch: the decoder's 2-D sin-cos positions are built per grid
  (`sincos_2d`), so they are never the zero tables transformers' ViTMAE leaves behind.
- A conv stem sees neighbouring pixels: masked patches are zeroed in the stem (treated as padding),
  so no kept patch can read pixels of a patch it is asked to hide.
"""
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from acai_hf.model.configuration_acai import AcaiEncoderConfig, AcaiOMRConfig
from acai_hf.model.modeling_acai import AcaiEncoderLayer, AcaiEncoderModel, AcaiOMRForConditionalGeneration, sincos_2d


@dataclass
class MAEConfig:
    """The MAE decoder and objective; the encoder's shape comes from the AcaiOMRConfig preset."""

    mask_ratio: float = 0.75
    decoder_depth: int = 8
    decoder_width: int = 512
    decoder_heads: int = 16
    norm_pix_loss: bool = True  # per-patch normalised pixel targets (MAE's better variant)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "MAEConfig":
        return cls(**{**MAE_PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        return asdict(self)


# base: the original project's decoder (DESIGN.md). small: a quarter of its cost for our CPU model;
# MAE's paper shows a decoder much lighter than the encoder is enough. tiny: tests.
MAE_PRESETS = {
    "base": {"decoder_depth": 8, "decoder_width": 512, "decoder_heads": 16},
    "small": {"decoder_depth": 2, "decoder_width": 256, "decoder_heads": 8},
    "tiny": {"decoder_depth": 1, "decoder_width": 32, "decoder_heads": 2},
}


@dataclass
class Masking:
    """One random masking of a batch. N = patches of the padded grid, L = longest kept sequence."""

    keep_index: torch.Tensor  # (B, L) patch index of each kept token (padding slots hold junk indices)
    keep_valid: torch.Tensor  # (B, L) bool: the slot holds a real kept patch
    hidden: torch.Tensor  # (B, N) bool: a valid patch the model must reconstruct


def random_masking(valid: torch.Tensor, ratio: float, generator: torch.Generator | None = None) -> Masking:
    """Per image, hide `ratio` of its valid patches (at least one patch kept and one hidden when it
    has two or more). valid: (B, N) bool."""
    batch, n = valid.shape
    noise = torch.rand(batch, n, generator=generator, device=valid.device)
    noise = noise.masked_fill(~valid, 2.0)  # padding sorts after every valid patch: never kept
    order = noise.argsort(dim=1)
    n_valid = valid.sum(1)
    n_keep = (n_valid.float() * (1 - ratio)).round().long().clamp(min=1)
    n_keep = torch.minimum(n_keep, (n_valid - 1).clamp(min=1))
    longest = int(n_keep.max())
    keep_index = order[:, :longest]
    keep_valid = torch.arange(longest, device=valid.device)[None, :] < n_keep[:, None]
    kept = torch.zeros_like(valid)
    kept.scatter_(1, keep_index, keep_valid)
    return Masking(keep_index, keep_valid, valid & ~kept)


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, p*p*C), patches in row-major grid order like the encoder's tokens."""
    batch, channels, height, width = images.shape
    p = patch_size
    x = images.reshape(batch, channels, height // p, p, width // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(batch, (height // p) * (width // p), p * p * channels)


class AcaiMAE(nn.Module):
    """Encoder (ours, exported later) + light transformer decoder that predicts hidden patches' pixels."""

    def __init__(self, config: AcaiOMRConfig, mae: MAEConfig | None = None):
        super().__init__()
        self.config, self.mae = config, mae or MAEConfig()
        self.encoder = AcaiEncoderModel(config.encoder)
        width = self.mae.decoder_width
        self.decoder_embed = nn.Linear(config.encoder.hidden_size, width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        # decoder blocks are our encoder's pre-norm ViT blocks at the decoder's width
        block = AcaiEncoderConfig(
            hidden_size=width, num_attention_heads=self.mae.decoder_heads, intermediate_size=4 * width,
            num_hidden_layers=self.mae.decoder_depth, layer_norm_eps=config.encoder.layer_norm_eps,
        )
        self.decoder_layers = nn.ModuleList([AcaiEncoderLayer(block) for _ in range(self.mae.decoder_depth)])
        self.decoder_norm = nn.LayerNorm(width, eps=config.encoder.layer_norm_eps)
        patch = config.encoder.patch_size
        self.decoder_pred = nn.Linear(width, patch * patch * config.encoder.num_channels)
        self._init_decoder()

    def _init_decoder(self):
        # as in MAE: small normal mask token, xavier linears, unit layer norms
        nn.init.normal_(self.mask_token, std=0.02)
        for module in [self.decoder_embed, self.decoder_pred, *self.decoder_layers.modules()]:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def decoder_positions(self, grid: tuple[int, int], device=None) -> torch.Tensor:
        """(N, width) fixed 2-D sin-cos positions of the decoder for a grid (h, w)."""
        return sincos_2d(*grid, self.mae.decoder_width, device=device)

    def forward(self, pixel_values, pixel_mask=None, target_pixel_values=None, generator=None):
        """-> dict(loss, pred (B, N, p*p*C), hidden (B, N) bool). The target is `target_pixel_values`
        (the clean image when the input was augmented) or the input itself."""
        if pixel_mask is None:
            pixel_mask = torch.ones_like(pixel_values[:, 0], dtype=torch.long)
        p = self.config.encoder.patch_size
        grid = (pixel_values.shape[-2] // p, pixel_values.shape[-1] // p)
        valid = F.max_pool2d(pixel_mask[:, None].float(), p).flatten(1) > 0
        masking = random_masking(valid, self.mae.mask_ratio, generator)

        # hidden patches become padding for the stem, so a conv stem cannot carry their pixels over
        kept = valid & ~masking.hidden
        kept_pixels = kept.view(-1, 1, *grid).float()
        kept_pixels = F.interpolate(kept_pixels, scale_factor=p, mode="nearest")[:, 0].to(pixel_mask.dtype)
        tokens, _, _ = self.encoder.embed(pixel_values, pixel_mask * kept_pixels)
        index = masking.keep_index[..., None].expand(-1, -1, tokens.shape[-1])
        latent, _ = self.encoder.encode(tokens.gather(1, index), masking.keep_valid.long())

        pred = self.decode(latent, masking, grid, valid)
        target = patchify(pixel_values if target_pixel_values is None else target_pixel_values, p)
        return {"loss": self.loss(pred, target.to(pred.dtype), masking.hidden), "pred": pred, "hidden": masking.hidden}

    def decode(self, latent, masking: Masking, grid, valid):
        x = self.decoder_embed(latent)
        batch, n = valid.shape
        slots = torch.where(masking.keep_valid[..., None], x, self.mask_token.to(x.dtype))
        full = self.mask_token.to(x.dtype).expand(batch, n, -1).clone()
        full = full.scatter(1, masking.keep_index[..., None].expand_as(slots), slots)
        full = full + self.decoder_positions(grid, x.device).to(x.dtype)
        key_mask = None if bool(valid.all()) else valid[:, None, None, :]
        for layer in self.decoder_layers:
            full = layer(full, key_mask)
        return self.decoder_pred(self.decoder_norm(full))

    def loss(self, pred, target, hidden):
        if self.mae.norm_pix_loss:
            mean = target.mean(-1, keepdim=True)
            var = target.var(-1, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        per_patch = (pred.float() - target.float()).pow(2).mean(-1)
        return (per_patch * hidden).sum() / hidden.sum().clamp(min=1)

    def save_pretrained(self, directory) -> None:
        """model.safetensors + config.json (the AcaiOMRConfig) + mae_config.json: what
        training.run.checkpointing expects of a model, and what `from_pretrained` reads back."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()},
                  directory / "model.safetensors")
        self.config.save_pretrained(directory)
        (directory / "mae_config.json").write_text(json.dumps(self.mae.to_dict(), indent=1))

    @classmethod
    def from_pretrained(cls, directory) -> "AcaiMAE":
        directory = Path(directory)
        mae = MAEConfig(**json.loads((directory / "mae_config.json").read_text()))
        model = cls(AcaiOMRConfig.from_pretrained(directory), mae)
        model.load_state_dict(load_file(directory / "model.safetensors"))
        return model

    def export(self, directory, processor=None) -> AcaiOMRForConditionalGeneration:
        """Writes an AcaiOMRForConditionalGeneration whose encoder is ours (decoder freshly initialised):
        the `--init-from` starting point of supervised training."""
        model = AcaiOMRForConditionalGeneration(self.config)
        model.encoder.load_state_dict(self.encoder.state_dict())
        model.save_pretrained(directory)
        if processor is not None:
            processor.save_pretrained(directory)
        return model


__all__ = ["AcaiMAE", "MAEConfig", "MAE_PRESETS", "Masking", "random_masking", "patchify"]
