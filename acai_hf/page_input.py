"""Pages in: the bytes of an image (PNG, JPEG incl. phone photos, WebP, TIFF, BMP, GIF) or a PDF -> PIL pages.

PDFs are recognised by their content (not their name) and rasterised with PDFium at about 300 dpi.
Everything a user can upload is checked before it costs much: the byte size, the pixel count an image
header declares (a decompression bomb is a small file claiming a huge image), the number of PDF pages,
and the pixel size of a rendered PDF page (the dpi is lowered for huge pages). Any problem raises
`PageInputError` (a ValueError) whose message a musician can act on.
"""
import io
import re
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

MAX_BYTES = 100 * 1024 * 1024
MAX_PIXELS = 64_000_000  # declared size of one image; a 50-megapixel phone photo passes
WORKING_PIXELS = 25_000_000  # bigger images are scaled down to this (A3 at 300 dpi is ~17 MP)
MAX_PDF_PAGES = 30  # rendered per request
PDF_DPI = 300
MAX_PDF_PAGE_PIXELS = 25_000_000  # a page bigger than this at 300 dpi is rendered at a lower dpi
MAX_PDF_PAGE_SIDE = 10_000
MIN_SIDE = 16  # smaller than this is no page of music
# no EPS (it runs Ghostscript) or exotic plugins; the JPEG plugin also opens MPO (some phone photos)
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")

_PDFIUM_LOCK = threading.Lock()  # PDFium is not thread-safe; Gradio serves requests from threads


class PageInputError(ValueError):
    """A file we cannot take as pages of music; the message says why and what to do."""


def parse_pages(pages: str | None, n_pages: int) -> list[int]:
    """"1-3,5" (1-based, ranges inclusive, "4-" to the end) -> 0-based page indices in that order.

    None or blank selects every page. Repeats are dropped; the order given is kept.
    """
    if pages is None or not str(pages).strip():
        return list(range(n_pages))
    chosen = []
    for part in str(pages).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        match = re.fullmatch(r"(\d+)\s*(?:(-|–|to)\s*(\d*))?", part)
        if match is None:
            raise PageInputError(f"Pages must look like 1-3,5 (page numbers and ranges); {part!r} is neither.")
        first = int(match.group(1))
        last = first if match.group(2) is None else int(match.group(3) or n_pages)
        if first < 1 or last < first:
            raise PageInputError(f"The page range {part!r} is empty; pages count from 1, as in 2-4.")
        if last > n_pages:
            pages_word = "page" if n_pages == 1 else "pages"
            raise PageInputError(
                f"The document has {n_pages} {pages_word}; page {last} does not exist. "
                f"Choose pages from 1 to {n_pages}."
            )
        chosen += [index for index in range(first - 1, last) if index not in chosen]
    if not chosen:
        raise PageInputError("No page chosen: write page numbers like 1-3,5 or leave the pages box empty.")
    return chosen


def is_pdf(data: bytes) -> bool:
    return b"%PDF-" in data[:1024]  # the header may follow a little junk


def load_pages(data: bytes, filename_hint: str = "", pages: str | None = None) -> list[Image.Image]:
    """The pages in `data` (an image or a PDF), as RGB images in order.

    `pages` ("1-3,5") selects pages of a PDF or multi-page TIFF; a single image ignores it.
    """
    if data is None or len(data) == 0:
        raise PageInputError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise PageInputError(
            f"The file is {len(data) / 2**20:.0f} MB; the limit is {MAX_BYTES / 2**20:.0f} MB. "
            "Upload fewer pages or a smaller scan."
        )
    if is_pdf(data):
        return _pdf_pages(data, pages)
    if filename_hint.lower().endswith(".pdf"):
        raise PageInputError("The file is named .pdf but is not a PDF (is the download incomplete?).")
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc") or filename_hint.lower().endswith(
        (".heic", ".heif")
    ):
        raise PageInputError("HEIC photos are not supported yet; export the photo as JPEG or PNG and upload that.")
    return _image_pages(data, pages)


def load_pages_from_path(path, pages: str | None = None) -> list[Image.Image]:
    """`load_pages` on a file (for the command line: the server never opens client paths)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise PageInputError(f"Cannot read {path.name}: {error.strerror or error}.") from error
    if path.is_dir():
        raise PageInputError(f"{path.name} is a folder, not an image or PDF.")
    if size > MAX_BYTES:
        raise PageInputError(f"The file is {size / 2**20:.0f} MB; the limit is {MAX_BYTES / 2**20:.0f} MB.")
    return load_pages(path.read_bytes(), path.name, pages)


def _open_image(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PageInputError(_too_many_pixels_message()) from error
    except Image.UnidentifiedImageError as error:
        raise PageInputError(
            "The file is not an image or PDF (we read PNG, JPEG, WebP, TIFF, BMP, GIF and PDF)."
        ) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # header parsing failed
        raise PageInputError("The image is corrupt or truncated; export it again and re-upload.") from error


def _too_many_pixels_message(width=None, height=None) -> str:
    size = f" ({width} x {height} pixels, {width * height / 1e6:.0f} megapixels)" if width else ""
    return (
        f"The image is too large{size}; the limit is {MAX_PIXELS / 1e6:.0f} megapixels. "
        "Scale it down (300 dpi is plenty) and upload it again."
    )


def _image_pages(data: bytes, pages: str | None) -> list[Image.Image]:
    image = _open_image(data)
    n_frames = getattr(image, "n_frames", 1) if image.format == "TIFF" else 1
    indices = parse_pages(pages, n_frames) if n_frames > 1 else [0]
    if len(indices) > MAX_PDF_PAGES:
        raise PageInputError(
            f"This file has {len(indices)} pages; choose at most {MAX_PDF_PAGES} with the pages box."
        )
    out = []
    for index in indices:
        if index:
            image.seek(index)
        out.append(_decode(image))
    return out


def _decode(image: Image.Image) -> Image.Image:
    """Check the declared size, decode, apply the EXIF orientation, convert to RGB on white."""
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise PageInputError(_too_many_pixels_message(width, height))
    if min(width, height) < MIN_SIDE:
        raise PageInputError(f"The image is only {width} x {height} pixels; upload a page of music.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            try:
                image = ImageOps.exif_transpose(image)  # phone photos are stored sideways with a tag
            except Exception:  # a broken EXIF block: keep the image as stored
                pass
            image = _to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PageInputError(_too_many_pixels_message(width, height)) from error
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as error:
        raise PageInputError("The image is corrupt or truncated; export it again and re-upload.") from error
    return _shrink(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # 16-bit or float scans
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        image = Image.fromarray(((values - low) * scale).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _shrink(image: Image.Image, max_pixels: int | None = None) -> Image.Image:
    max_pixels = WORKING_PIXELS if max_pixels is None else max_pixels
    pixels = image.width * image.height
    if pixels <= max_pixels:
        return image
    scale = (max_pixels / pixels) ** 0.5
    size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def pdf_scale(width_pt: float, height_pt: float, dpi: float = PDF_DPI) -> float:
    """Pixels per PDF point: `dpi` / 72, lowered so the page stays within the pixel caps."""
    scale = dpi / 72
    area = max(width_pt * height_pt, 1e-6)
    scale = min(scale, (MAX_PDF_PAGE_PIXELS / area) ** 0.5, MAX_PDF_PAGE_SIDE / max(width_pt, height_pt, 1e-6))
    return scale


def _pdf_pages(data: bytes, pages: str | None) -> list[Image.Image]:
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as error:
            if "password" in str(error).lower():
                raise PageInputError(
                    "The PDF is password-protected; save an unprotected copy and upload that."
                ) from error
            raise PageInputError("The PDF is corrupt or truncated; export it again and re-upload.") from error
        try:
            n_pages = len(document)
            if n_pages == 0:
                raise PageInputError("The PDF has no pages.")
            if (pages is None or not str(pages).strip()) and n_pages > MAX_PDF_PAGES:
                raise PageInputError(
                    f"This PDF has {n_pages} pages; choose at most {MAX_PDF_PAGES} with the pages box "
                    f"(e.g. 1-{MAX_PDF_PAGES})."
                )
            indices = parse_pages(pages, n_pages)
            if len(indices) > MAX_PDF_PAGES:
                raise PageInputError(
                    f"You chose {len(indices)} pages; choose at most {MAX_PDF_PAGES} at a time with the pages box."
                )
            return [_render_pdf_page(document, index) for index in indices]
        finally:
            document.close()


def _render_pdf_page(document, index: int) -> Image.Image:
    import pypdfium2 as pdfium

    try:
        page = document[index]
        try:
            width_pt, height_pt = page.get_size()
            if width_pt <= 0 or height_pt <= 0:
                raise PageInputError(f"Page {index + 1} of the PDF has no size.")
            bitmap = page.render(scale=pdf_scale(width_pt, height_pt), may_draw_forms=False)
            image = bitmap.to_pil()
        finally:
            page.close()
    except pdfium.PdfiumError as error:
        raise PageInputError(f"Page {index + 1} of the PDF is corrupt and cannot be drawn.") from error
    return _to_rgb(image)


__all__ = ["PageInputError", "load_pages", "load_pages_from_path", "parse_pages", "is_pdf", "MAX_PDF_PAGES",
           "MAX_PIXELS", "MAX_BYTES"]
