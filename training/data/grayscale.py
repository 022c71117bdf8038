"""Bring any image to 8-bit grayscale ("L") the way a page would look: transparency becomes white paper."""
import io

import numpy as np
from PIL import Image


def to_grayscale(image: Image.Image | np.ndarray) -> Image.Image:
    """A PIL "L" image from a PIL image of any mode or a uint8 array (H x W, H x W x 1, 3 or 4)."""
    if isinstance(image, np.ndarray):
        image = _array_to_image(image)
    if image.mode == "L":
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
