"""Any image to 8-bit grayscale ("L") the way a page would look: transparency becomes white paper.

The one conversion used by the model's image processor, system detection and the training data.
"""
import io

import numpy as np
from PIL import Image


def to_pil(image) -> Image.Image:
    """PIL image, file path, or array/tensor (H, W), (H, W, C), (C, H, W) with values 0-255 or 0-1 -> PIL."""
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, str):
        return Image.open(image)
    array = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.dtype != np.uint8:
        scale = 255.0 if array.max() <= 1.0 else 1.0
        array = np.clip(array * scale, 0, 255).round().astype(np.uint8)
    return Image.fromarray(array)


def to_grayscale(image: Image.Image | np.ndarray) -> Image.Image:
    """A PIL "L" image from a PIL image of any mode or a uint8 array (H x W, H x W x 1, 3 or 4)."""
    if isinstance(image, np.ndarray):
        image = _array_to_image(image)
    if image.mode == "L" and "transparency" not in image.info:
        return image
    if "A" in image.getbands() or "transparency" in image.info:
        # Renderers leave the background transparent; a plain convert("L") would turn it black.
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return image.convert("L")


def grayscale_image_bytes(data: bytes) -> bytes:
    """The encoded image unchanged when it is already grayscale, else re-encoded as a grayscale PNG."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode == "L":
            return data  # opening reads only the header, so this check is cheap
        buffer = io.BytesIO()
        to_grayscale(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _array_to_image(array: np.ndarray) -> Image.Image:
    if array.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image array, got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4)):
        return Image.fromarray(array)
    raise ValueError(f"expected an H x W (x 1, 3 or 4) image array, got shape {array.shape}")


__all__ = ["to_pil", "to_grayscale", "grayscale_image_bytes"]
