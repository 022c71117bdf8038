"""Image processor for Acai OMR: one grand-staff system image -> grayscale "ink" tensor + pixel mask.

Steps: apply the EXIF orientation, flatten transparency onto white, convert to grayscale, scale
(keeping the aspect ratio exactly, or narrower by `width_scale`) to `target_height` or less so that the
patch grid fits `max_patches`, pad with white to a multiple of the patch size, and invert so that paper is 0 and ink 1
(padding is then the same as a convolution's zero padding). A batch is padded to its largest image;
`pixel_mask` is 1 on the image (its patch-multiple margin included) and 0 on that batch padding.
"""
import math

import numpy as np
from PIL import Image, ImageOps
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor

from acai_hf.page.grayscale import to_grayscale, to_pil


WIDTH_SCALES = (0.1, 10.0)  # narrower or wider than this, a system is no longer music a model can read


def checked_width_scale(width_scale) -> float:
    """`width_scale` as a float, or ValueError when it is outside WIDTH_SCALES."""
    low, high = WIDTH_SCALES
    if not low <= float(width_scale) <= high:
        raise ValueError(f"width_scale must be between {low:g} and {high:g}, got {width_scale}")
    return float(width_scale)


def fit_size(height: int, width: int, target_height: int, max_patches: int, patch_size: int,
             width_scale: float = 1.0) -> tuple[int, int]:
    """Largest (h, w) with h / w as in the input (w also times `width_scale`), h <= target_height and at most
    max_patches patches."""
    scale = min(target_height / height, math.sqrt(max_patches / (height * width * width_scale)) * patch_size)
    while True:
        h, w = max(1, round(height * scale)), max(1, round(width * scale * width_scale))
        if math.ceil(h / patch_size) * math.ceil(w / patch_size) <= max_patches:
            return h, w
        scale *= 0.99


class AcaiImageProcessor(BaseImageProcessor):
    r"""
    Args:
        target_height (`int`): height images are scaled to, unless the patch budget needs less.
        max_patches (`int`): the patch budget (patch grid rows x columns).
        patch_size (`int`): the encoder's patch size; images are padded to multiples of it.
        resample (`int`): PIL resampling filter.
        width_scale (`float`): horizontal scale relative to the vertical one. Below 1, a system is taller in
            patches for the same patch count: a pitch is half a staff space, ~3 px at 160 px high.
    """

    model_input_names = ["pixel_values", "pixel_mask"]

    def __init__(self, target_height=160, max_patches=640, patch_size=16, resample=Image.Resampling.BILINEAR,
                 width_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.target_height = target_height
        self.width_scale = checked_width_scale(width_scale)
        self.max_patches = max_patches
        self.patch_size = patch_size
        self.resample = int(resample)

    def resize_one(self, image) -> np.ndarray:
        """One image -> (h, w) float32 ink array, padded to patch multiples."""
        gray = to_grayscale(ImageOps.exif_transpose(to_pil(image)))  # upright, as the page is shown
        h, w = fit_size(gray.height, gray.width, self.target_height, self.max_patches, self.patch_size,
                        self.width_scale)
        gray = gray.resize((w, h), resample=self.resample)
        ink = 1.0 - np.asarray(gray, dtype=np.float32) / 255.0
        p = self.patch_size
        return np.pad(ink, ((0, -h % p), (0, -w % p)))

    def pad_batch(self, inks, return_tensors="pt") -> BatchFeature:
        """Ink arrays (from `resize_one`) -> one batch padded to the largest, with its pixel mask."""
        height = max(ink.shape[0] for ink in inks)
        width = max(ink.shape[1] for ink in inks)
        pixel_values = np.zeros((len(inks), 1, height, width), dtype=np.float32)
        pixel_mask = np.zeros((len(inks), height, width), dtype=np.int64)
        for i, ink in enumerate(inks):
            pixel_values[i, 0, : ink.shape[0], : ink.shape[1]] = ink
            pixel_mask[i, : ink.shape[0], : ink.shape[1]] = 1
        data = {"pixel_values": pixel_values, "pixel_mask": pixel_mask}
        return BatchFeature(data=data, tensor_type=return_tensors)

    def preprocess(self, images, return_tensors="pt", **kwargs) -> BatchFeature:
        if not isinstance(images, (list, tuple)):
            images = [images]
        return self.pad_batch([self.resize_one(image) for image in images], return_tensors=return_tensors)

    def __call__(self, images, return_tensors="pt", **kwargs) -> BatchFeature:
        return self.preprocess(images, return_tensors=return_tensors, **kwargs)


__all__ = ["AcaiImageProcessor", "WIDTH_SCALES", "checked_width_scale", "fit_size"]
