"""The decoder's key/value cache: transformers' `EncoderDecoderCache` with growing self-attention layers.

transformers' `DynamicLayer` appends a decoding step's key/value with `torch.cat`, copying the whole
prefix every step (O(T^2) over a sequence). A `GrowingLayer` keeps them in buffers that double when
full, so a step writes only its own token. It stays a `DynamicLayer` (`keys` / `values` are views of
the filled part), so generate()'s beam reordering, cropping and batch selection keep working: whoever
replaces `keys` from outside is noticed on the next update, which then starts from the new tensors.
The cross-attention layers are plain `DynamicLayer`s, filled once per sequence from the encoder states.
"""
import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer, EncoderDecoderCache

MIN_CAPACITY = 64


class GrowingLayer(DynamicLayer):
    """A DynamicLayer whose keys/values are views of buffers that double when full."""

    _keys_view = None  # the tensor this layer last handed out as `keys`

    def _owns_keys(self) -> bool:
        return self._keys_view is not None and self.keys is self._keys_view

    def _allocate(self, like: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, new_tokens: int) -> None:
        """New buffers holding `keys`/`values` (B, H, T, d), with room for twice T + `new_tokens`."""
        length = keys.shape[-2] if keys.dim() == 4 else 0
        shape = (*like.shape[:2], max(MIN_CAPACITY, 2 * (length + new_tokens)), like.shape[-1])
        key_buffer, value_buffer = like.new_empty(shape), like.new_empty(shape)
        if length:
            key_buffer[:, :, :length] = keys
            value_buffer[:, :, :length] = values
        self._key_buffer, self._value_buffer, self._length = key_buffer, value_buffer, length

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        new_tokens = key_states.shape[-2]
        if not self._owns_keys() or key_states.shape[:2] != self._key_buffer.shape[:2]:
            # first update, or keys replaced from outside (crop, batch selection): start from them
            self._allocate(key_states, self.keys, self.values, new_tokens)
        start = self._length
        end = start + new_tokens
        if end > self._key_buffer.shape[-2]:
            self._allocate(key_states, self._key_buffer[:, :, :start], self._value_buffer[:, :, :start], new_tokens)
        self._key_buffer[:, :, start:end] = key_states
        self._value_buffer[:, :, start:end] = value_states
        self._length = end
        self.keys = self._keys_view = self._key_buffer[:, :, :end]
        self.values = self._value_buffer[:, :, :end]
        return self.keys, self.values

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Beam search: reorder the buffers themselves, so that the next step need not copy them again."""
        if not self._owns_keys():
            return super().reorder_cache(beam_idx)
        beam_idx = beam_idx.to(self._key_buffer.device)
        self._key_buffer = self._key_buffer.index_select(0, beam_idx)
        self._value_buffer = self._value_buffer.index_select(0, beam_idx)
        self.keys = self._keys_view = self._key_buffer[:, :, : self._length]
        self.values = self._value_buffer[:, :, : self._length]


class GrowingCache(DynamicCache):
    """A DynamicCache of GrowingLayers."""

    def __init__(self):
        Cache.__init__(self, layer_class_to_replicate=GrowingLayer)


def growing_cache() -> EncoderDecoderCache:
    """The decoder's default cache: growing self-attention layers, plain cross-attention layers."""
    return EncoderDecoderCache(GrowingCache(), DynamicCache())


__all__ = ["GrowingCache", "GrowingLayer", "growing_cache"]
