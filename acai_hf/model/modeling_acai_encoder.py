"""The Acai OMR encoder: a ViT over grayscale systems of any size within the patch budget.

Positions are 2-D (sin-cos or learned row + column tables), and a pixel mask marks batch padding,
which is zeroed in the stem and left out of self-attention (and, via `AcaiEncoderOutput.attention_mask`,
out of the decoder's cross-attention), so that an image gives the same output alone or padded in a batch.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput

from acai_hf.model.configuration_acai import AcaiEncoderConfig
from acai_hf.model.modeling_acai_layers import AcaiMLP, AcaiPreTrainedModel, attend, split_heads


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

    def _init_weights(self, module):
        super()._init_weights(module)
        if module is self.embeddings.projection and self.config.stem == "linear":
            # Ink covers about a sixteenth of a system's pixels: this std gives a patch's content the
            # scale of its sin-cos position. At the default 0.02 the positions were ~12x larger and
            # training could easily squash the content away.
            fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
            nn.init.normal_(module.weight, std=(16 / fan_in) ** 0.5 * 0.7)
            nn.init.zeros_(module.bias)

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


__all__ = ["AcaiEncoderModel", "AcaiEncoderLayer", "AcaiEncoderOutput", "AcaiPatchEmbeddings", "patch_mask",
           "sincos_2d"]
