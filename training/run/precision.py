"""`--precision auto|fp32|bf16`: use bf16 autocast only where the hardware makes it pay.

On a CPU without AMX or AVX512-BF16 (e.g. an AVX2-only EPYC) bf16 matmuls are emulated and run
tens of times slower than fp32, so `auto` checks the instruction set rather than assuming it.
"""
from functools import lru_cache

import torch

CHOICES = ("auto", "fp32", "bf16")


@lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """AMX or AVX512-BF16, from torch's dispatch level and, on Linux, the kernel's CPU flags."""
    if torch.backends.cpu.get_cpu_capability() in ("AVX512_BF16", "AMX"):  # newer torch names
        return True
    try:
        with open("/proc/cpuinfo") as info:
            flags = next((line for line in info if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(choice: str = "auto", device: str | torch.device | None = None) -> str:
    """-> "bf16" or "fp32" for the device the run uses (default: CUDA when available)."""
    if choice not in CHOICES:
        raise ValueError(f"precision must be one of {CHOICES}, not {choice!r}")
    if choice != "auto":
        return choice
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and cpu_has_fast_bf16() else "fp32"


def accelerate_mixed_precision(precision: str) -> str:
    """Our name -> accelerate's `mixed_precision` argument."""
    return {"bf16": "bf16", "fp32": "no"}[precision]


__all__ = ["resolve_precision", "cpu_has_fast_bf16", "accelerate_mixed_precision", "CHOICES"]
