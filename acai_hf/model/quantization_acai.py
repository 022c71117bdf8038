"""Int8 decoding on a CPU: the decoder's linear layers with int8 weights (dynamic quantization).

A decoding step multiplies a few rows (one per system in the batch) by every weight matrix of the
decoder, so on a CPU it is bound by reading those weights from memory, not by arithmetic: the 4-layer
`small` decoder reads about 15 MB of fp32 weights per step. Int8 weights (one scale per output
channel) are a quarter of those bytes; each call quantizes its activations with their own range.
The encoder runs once per image over hundreds of patches and stays in fp32. A quantized model is
for inference only: it is not trained or saved.

Because the activation range is taken per call, a system's logits depend slightly on what shares its
call: the other systems of its batch, or (without the KV cache) its own prefix. The fp32 model's
"batched equals single" property therefore holds only approximately in int8.
"""
import warnings

import torch
from torch import nn

# fbgemm/oneDNN on x86 accumulate in 16 bits without overflow only if activations use 7 bits
REDUCE_RANGE = True


class Int8Linear(nn.Module):
    """`nn.Linear` with per-channel int8 weights, prepacked for the CPU's quantized GEMM."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach().float()
        scales = (weight.abs().amax(dim=1) / 127).clamp(min=1e-8).double()
        zero_points = torch.zeros(len(scales), dtype=torch.long)
        with warnings.catch_warnings():
            # torch marks quantized tensors deprecated (to move to torchao); they work in the torch we pin
            warnings.simplefilter("ignore", UserWarning)
            quantized = torch.quantize_per_channel(weight, scales, zero_points, axis=0, dtype=torch.qint8)
        bias = None if linear.bias is None else linear.bias.detach().float()
        self._packed = torch.ops.quantized.linear_prepack(quantized, bias)
        # the overload itself: the packet's __call__ spends ~10 us per call deciding how to dispatch
        self._linear = torch.ops.quantized.linear_dynamic.default

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._linear(x, self._packed, REDUCE_RANGE)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per channel"


def quantize_decoder(model):
    """Replaces, in place, every `nn.Linear` of `model.decoder` by an `Int8Linear`. -> the model.
    CPU only: the quantized kernels have no GPU implementation."""
    if model.device.type != "cpu":
        raise ValueError(f"int8 decoding runs on the CPU only; the model is on {model.device}")
    for module in list(model.decoder.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.Linear):
                setattr(module, name, Int8Linear(child))
    return model


def is_quantized(model) -> bool:
    return any(isinstance(module, Int8Linear) for module in model.decoder.modules())


__all__ = ["Int8Linear", "is_quantized", "quantize_decoder"]
