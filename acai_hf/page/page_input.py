"""Pages in: the bytes of an image (PNG, JPEG incl. phone photos, WebP, TIFF, BMP, GIF) or a PDF -> PIL pages.

PDFs are recognised by their content (not their name) and rasterised with PDFium at about 300 dpi.
Everything a user can upload is checked before it costs much: the byte size, the pixel count an image
header declares (a decompression bomb is a small file claiming a huge image), the page selection (its
length and the number of pages it names, before the PDF is opened), and the pixels kept: each page
at most WORKING_PIXELS (twice what system detection analyses), all pages of one request together at
most MAX_REQUEST_PIXELS (more pages, fewer pixels each). PDF pages are rendered at that size one at a
time. Any problem raises `PageInputError` (a ValueError) whose message a musician can act on.
"""
import io
import math
import os
import re
import stat
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from acai_hf.page.system_detection import MAX_WORK_PIXELS

MAX_BYTES = 100 * 1024 * 1024
MAX_PIXELS = 64_000_000  # declared size of one image; a 50-megapixel phone photo passes
# A page is kept at most this big: detection analyses at most MAX_WORK_PIXELS and the model reads a
# system at 160 pixels high, so more is only memory. A4 at 300 dpi (8.7 MP) keeps its resolution.
WORKING_PIXELS = 2 * MAX_WORK_PIXELS
MAX_REQUEST_PIXELS = 100_000_000  # every page of one request together (300 MB as RGB); 30 A4 pages get ~180 dpi
MAX_PDF_PAGES = 30  # rendered per request
MAX_PAGES_TEXT = 200  # characters of a page selection ("1-3,5" is five)
PDF_DPI = 300
MAX_PDF_PAGE_PIXELS = WORKING_PIXELS  # a page bigger than this at 300 dpi is rendered at a lower dpi
MAX_PDF_PAGE_SIDE = 10_000
MIN_SIDE = 16  # smaller than this is no page of music
# no EPS (it runs Ghostscript) or exotic plugins; the JPEG plugin also opens MPO (some phone photos)
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")

_PDFIUM_LOCK = threading.Lock()  # PDFium is not thread-safe; Gradio serves requests from threads


class PageInputError(ValueError):
    """A file we cannot take as pages of music; the message says why and what to do."""


def parse_page_ranges(pages: str | None) -> list[tuple[int, int | None]]:
    """"1-3,5" -> [(1, 3), (5, 5)] (1-based, inclusive; "4-" is (4, None): to the end). [] for None or blank.

    Syntax only, so it needs no document: the upload is checked before the PDF is opened. Linear in the
    text, which is at most MAX_PAGES_TEXT characters (so no number is too long for int()).
    """
    if pages is None or not str(pages).strip():
        return []
    text = str(pages)
    if len(text) > MAX_PAGES_TEXT:
        raise PageInputError(f"The page selection is {len(text):,} characters long; write at most "
                             f"{MAX_PAGES_TEXT}, with ranges like 1-30.")
    ranges = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        match = re.fullmatch(r"(\d+)\s*(?:(-|–|to)\s*(\d*))?", part)
        if match is None:
            raise PageInputError(f"Pages must look like 1-3,5 (page numbers and ranges); {part!r} is neither.")
        first = int(match.group(1))
        last = first if match.group(2) is None else (int(match.group(3)) if match.group(3) else None)
        if first < 1 or (last is not None and last < first):
            raise PageInputError(f"The page range {part!r} is empty; pages count from 1, as in 2-4.")
        ranges.append((first, last))
    if not ranges:
        raise PageInputError("No page chosen: write page numbers like 1-3,5 or leave the pages box empty.")
    return ranges


def choose_pages(ranges: list[tuple[int, int | None]], n_pages: int, limit: int | None = None) -> list[int]:
    """The 0-based indices `ranges` (from parse_page_ranges) name in a document of n_pages, in the
    order given, repeats dropped; [] names every page. More than `limit` pages (default MAX_PDF_PAGES)
    is refused after counting them range by range, never by listing them."""
    limit = MAX_PDF_PAGES if limit is None else limit
    if not ranges:
        ranges = [(1, n_pages)]
    spans = []
    for first, last in ranges:
        last = n_pages if last is None else last
        missing = max(first, last)
        if missing > n_pages:  # "4-" of a 3-page document names page 4 too
            pages_word = "page" if n_pages == 1 else "pages"
            raise PageInputError(
                f"The document has {n_pages} {pages_word}; page {missing} does not exist. "
                f"Choose pages from 1 to {n_pages}."
            )
        spans.append((first - 1, last))  # 0-based, end exclusive
    count = _distinct_count(spans)
    if count > limit:
        raise PageInputError(f"You chose {count:,} pages; choose at most {limit} at a time with the pages box.")
    chosen, seen = [], set()
    for start, end in spans:
        for index in range(start, end):
            if index not in seen:
                seen.add(index)
                chosen.append(index)
    return chosen


def _distinct_count(spans: list[tuple[int, int]]) -> int:
    """How many indices the half-open spans cover together (overlaps counted once)."""
    count, reached = 0, 0
    for start, end in sorted(spans):
        start = max(start, reached)
        if end > start:
            count += end - start
            reached = end
    return count


def parse_pages(pages: str | None, n_pages: int, limit: int | None = None) -> list[int]:
    """"1-3,5" (1-based, ranges inclusive, "4-" to the end) -> 0-based page indices in that order.

    None or blank selects every page. Repeats are dropped; the order given is kept. At most `limit`
    pages (default MAX_PDF_PAGES).
    """
    return choose_pages(parse_page_ranges(pages), n_pages, limit)


def page_pixel_budget(n_pages: int) -> int:
    """Pixels one of n_pages pages of a request may keep: WORKING_PIXELS, less when many pages share
    MAX_REQUEST_PIXELS."""
    return min(WORKING_PIXELS, MAX_REQUEST_PIXELS // max(n_pages, 1))


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
    """`load_pages` on a file (for the command line: the server never opens client paths).

    Only a regular file is read: a FIFO, a device or a socket is refused (reading one could wait or grow
    forever). The file is opened without blocking and checked on the open descriptor, so it cannot be
    swapped for one between the check and the read, and no more than MAX_BYTES + 1 bytes are read.
    """
    path = Path(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise PageInputError(f"Cannot read {path.name}: {error.strerror or error}.") from error
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise PageInputError(f"{path.name} is a folder, not an image or PDF.")
        if not stat.S_ISREG(mode):
            raise PageInputError(f"{path.name} is not a regular file (a pipe or a device?); give an image or PDF file.")
        os.set_blocking(descriptor, True)
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            data = file.read(MAX_BYTES + 1)
    finally:
        os.close(descriptor)
    if len(data) > MAX_BYTES:
        raise PageInputError(f"The file is over {MAX_BYTES / 2**20:.0f} MB; that is the limit.")
    return load_pages(data, path.name, pages)


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
    indices = [0]  # a single image ignores the page selection
    if n_frames > 1:
        ranges = parse_page_ranges(pages)
        if not ranges and n_frames > MAX_PDF_PAGES:
            raise PageInputError(f"This file has {n_frames} pages; choose at most {MAX_PDF_PAGES} with the pages box.")
        indices = choose_pages(ranges, n_frames)
    budget = page_pixel_budget(len(indices))
    out = []
    for index in indices:  # one frame decoded at a time, shrunk to its share before the next
        if index:
            image.seek(index)
        out.append(_decode(image, budget))
    return out


def _decode(image: Image.Image, max_pixels: int | None = None) -> Image.Image:
    """Check the declared size, decode, apply the EXIF orientation, convert to RGB on white, shrink to
    `max_pixels` (default WORKING_PIXELS)."""
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
    return _shrink(image, max_pixels)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image  # convert() would copy it
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # 16-bit or float scans
        values = np.asarray(image, dtype=np.float32)
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


def pdf_scale(width_pt: float, height_pt: float, dpi: float = PDF_DPI, max_pixels: int | None = None) -> float:
    """Pixels per PDF point: `dpi` / 72, lowered so the page stays within `max_pixels` (default
    MAX_PDF_PAGE_PIXELS) and MAX_PDF_PAGE_SIDE."""
    max_pixels = MAX_PDF_PAGE_PIXELS if max_pixels is None else max_pixels
    width, height = max(width_pt, 1e-6), max(height_pt, 1e-6)
    # PDFium rounds each side up, so (w s + 1)(h s + 1) <= max_pixels: the root of that quadratic in s
    within_pixels = (-(width + height) + math.sqrt((width + height) ** 2 + 4 * width * height * (max_pixels - 1))
                     ) / (2 * width * height)
    return min(dpi / 72, within_pixels, MAX_PDF_PAGE_SIDE / max(width, height))


def _pdf_pages(data: bytes, pages: str | None) -> list[Image.Image]:
    import pypdfium2 as pdfium

    ranges = parse_page_ranges(pages)  # before the lock: a long selection must not hold up other uploads
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
        with _PDFIUM_LOCK:
            n_pages = len(document)
        if n_pages == 0:
            raise PageInputError("The PDF has no pages.")
        if not ranges and n_pages > MAX_PDF_PAGES:
            raise PageInputError(
                f"This PDF has {n_pages} pages; choose at most {MAX_PDF_PAGES} with the pages box "
                f"(e.g. 1-{MAX_PDF_PAGES})."
            )
        indices = choose_pages(ranges, n_pages)
        budget = min(MAX_PDF_PAGE_PIXELS, page_pixel_budget(len(indices)))
        pages_out = []
        for index in indices:  # one page at a time, the lock released between pages for other requests
            with _PDFIUM_LOCK:
                pages_out.append(_render_pdf_page(document, index, budget))
        return pages_out
    finally:
        with _PDFIUM_LOCK:
            document.close()


def _render_pdf_page(document, index: int, max_pixels: int) -> Image.Image:
    """Page `index` as RGB, at most max_pixels; PDFium's bitmap is freed before the next page."""
    import pypdfium2 as pdfium

    try:
        page = document[index]
        try:
            width_pt, height_pt = page.get_size()
            if width_pt <= 0 or height_pt <= 0:
                raise PageInputError(f"Page {index + 1} of the PDF has no size.")
            bitmap = page.render(scale=pdf_scale(width_pt, height_pt, max_pixels=max_pixels), may_draw_forms=False)
            try:
                return _to_rgb(bitmap.to_pil())
            finally:
                bitmap.close()
        finally:
            page.close()
    except pdfium.PdfiumError as error:
        raise PageInputError(f"Page {index + 1} of the PDF is corrupt and cannot be drawn.") from error


__all__ = ["PageInputError", "load_pages", "load_pages_from_path", "parse_pages", "parse_page_ranges",
           "choose_pages", "page_pixel_budget", "is_pdf", "MAX_PDF_PAGES", "MAX_PIXELS", "MAX_BYTES",
           "MAX_REQUEST_PIXELS"]
