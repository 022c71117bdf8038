"""Speed-ups of the training step that leave its result unchanged (tests/test_train.py compares them
with the plain path). What each buys on our 2-core AVX2 CPU: bench/train_step.py and the README.

- `channels_last_stem`: the conv stem in channels-last layout. oneDNN's convolutions and their
  backward run faster on it, and ChannelLayerNorm's permute to channels-last becomes a free view.
- `align_optimizer_state`: a resumed optimizer state in the parameters' (new) layout.
Not here: torch.compile of the transformer blocks, slower than eager in the full step on this CPU
(bench/train_step.py, path default-compile); the conv stem does not compile at all. In bf16 on an AMX CPU
too: `python bench/train_step.py --paths default-bf16,default-bf16-compile --batch-size 8 --batches 2
--threads 1 --rounds 2` gave 2.90 images/s eager, 2.36 compiled (seventeenth session, beside a training run).
Decoder length groups (the largest saving after width buckets) live in training.supervised.scheduled_sampling.
"""
import torch


def channels_last_stem(model) -> bool:
    """Puts a conv stem's weights in channels-last layout (in place); False when there is none."""
    if getattr(model.config.encoder, "stem", None) != "conv":
        return False
    model.encoder.embeddings.to(memory_format=torch.channels_last)
    return True


def align_optimizer_state(optimizer) -> None:
    """Gives every optimizer state tensor its parameter's memory layout. A state loaded from a checkpoint
    keeps the layout it was saved with; the multi-tensor AdamW is right either way but slower on
    mismatched layouts (and the fused kernel would be silently wrong, which is why we do not use it)."""
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


__all__ = ["align_optimizer_state", "channels_last_stem"]
