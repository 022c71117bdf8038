"""Building blocks shared by the Acai OMR encoder and decoder: the pretrained-model base class,
the MLP and multi-head attention on split heads."""
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.activations import ACT2FN


class AcaiPreTrainedModel(PreTrainedModel):
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _no_split_modules = ["AcaiEncoderLayer", "AcaiDecoderLayer"]


def split_heads(x, heads):
    """(B, T, D) -> (B, heads, T, D / heads)."""
    if x.shape[1] == 1:  # one decoding step: a single view
        return x.view(x.shape[0], heads, 1, -1)
    return x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)


def attend(query, key, value, mask, dropout, is_causal=False):
    """Scaled dot-product attention on split heads; mask is boolean, True = attend. -> (B, T, D)."""
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout, is_causal=is_causal)
    if out.shape[2] == 1:  # one decoding step: (B, H, 1, d) is already in (B, 1, H * d) order
        return out.reshape(out.shape[0], 1, -1)
    return out.transpose(1, 2).flatten(2)


class AcaiMLP(nn.Module):
    def __init__(self, dim, hidden, act, dropout):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = ACT2FN[act]
        self.fc2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:  # dropout is the identity: skip its calls on the decoding hot path
            return self.fc2(self.act(self.fc1(x)))
        return self.dropout(self.fc2(self.dropout(self.act(self.fc1(x)))))


__all__ = ["AcaiPreTrainedModel", "AcaiMLP", "attend", "split_heads"]
