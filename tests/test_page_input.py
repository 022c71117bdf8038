"""Page input: images (EXIF-rotated phone photos, WebP, TIFF pages), PDFs by content, page choice,
and every bad upload refused with a message that says what to do."""
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from acai_hf.page import page_input
from acai_hf.page.page_input import PageInputError, load_pages, load_pages_from_path, parse_pages
from tests.served_inputs import blank_pdf


def encoded(image, fmt, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def marked_page(size=(300, 400)) -> Image.Image:
    """A portrait page, white, with a black square in its top left corner."""
    page = Image.new("RGB", size, (255, 255, 255))
    ImageDraw.Draw(page).rectangle([10, 10, 60, 60], fill=(0, 0, 0))
    return page


def pdf_bytes(n_pages: int, size=(200, 300)) -> bytes:
    pages = []
    for number in range(n_pages):
        page = Image.new("L", size, 255)
        ImageDraw.Draw(page).rectangle([10, 10 + 20 * number, 40, 25 + 20 * number], fill=0)
        pages.append(page)
    return encoded(pages[0], "PDF", save_all=True, append_images=pages[1:], resolution=72)


def test_png_and_webp_load_as_rgb():
    page = marked_page()
    for fmt in ("PNG", "WEBP"):
        [loaded] = load_pages(encoded(page, fmt, **({"lossless": True} if fmt == "WEBP" else {})))
        assert loaded.mode == "RGB" and loaded.size == (300, 400)
        assert loaded.getpixel((30, 30)) == (0, 0, 0) and loaded.getpixel((200, 300)) == (255, 255, 255)


def test_transparent_png_is_on_white_paper():
    page = Image.new("LA", (100, 80), (0, 0))  # fully transparent black
    [loaded] = load_pages(encoded(page, "PNG"))
    assert loaded.getpixel((5, 5)) == (255, 255, 255)


def test_exif_rotated_phone_photo_comes_out_upright():
    upright = marked_page()
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # the camera stored it sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    [loaded] = load_pages(encoded(stored, "JPEG", exif=exif.tobytes(), quality=95), "IMG_0001.JPG")
    assert loaded.size == (300, 400)
    assert loaded.getpixel((30, 30))[0] < 60 and loaded.getpixel((270, 370))[0] > 200


def test_sixteen_bit_grey_scan():
    values = np.full((64, 64), 60000, dtype=np.uint16)
    values[:8, :8] = 0
    [loaded] = load_pages(encoded(Image.fromarray(values), "PNG"))
    assert loaded.getpixel((2, 2)) == (0, 0, 0) and loaded.getpixel((40, 40)) == (255, 255, 255)


def test_two_page_pdf_in_order_and_page_choice():
    data = pdf_bytes(2)
    pages = load_pages(data, "score.pdf")
    assert len(pages) == 2
    # 300 dpi: a 200 x 300 point page is 833 x 1250 pixels
    assert all(abs(p.width - 833) <= 2 and abs(p.height - 1250) <= 2 for p in pages)
    def mark_row(page):
        column = np.asarray(page.convert("L"))[:, 100]
        return int(np.flatnonzero(column < 128)[0])
    assert mark_row(pages[0]) < mark_row(pages[1])  # the second page's mark is lower
    [second] = load_pages(data, "score.pdf", pages="2")
    assert mark_row(second) == mark_row(pages[1])
    reordered = load_pages(data, pages="2,1")
    assert [mark_row(p) for p in reordered] == [mark_row(pages[1]), mark_row(pages[0])]


def test_pdf_is_recognised_by_content_not_name():
    assert len(load_pages(pdf_bytes(1), "scan.png")) == 1


def test_parse_pages():
    assert parse_pages(None, 5) == [0, 1, 2, 3, 4]
    assert parse_pages("1-3,5", 5) == [0, 1, 2, 4]
    assert parse_pages(" 4- ", 5) == [3, 4]
    assert parse_pages("2, 2, 1", 5) == [1, 0]
    with pytest.raises(PageInputError, match="has 5 pages; page 7 does not exist"):
        parse_pages("7", 5)
    with pytest.raises(PageInputError, match="must look like 1-3,5"):
        parse_pages("one", 5)
    with pytest.raises(PageInputError, match="empty"):
        parse_pages("3-2", 5)


def test_too_many_pdf_pages(monkeypatch):
    monkeypatch.setattr(page_input, "MAX_PDF_PAGES", 3)
    data = pdf_bytes(5, size=(50, 50))
    with pytest.raises(PageInputError, match="This PDF has 5 pages; choose at most 3 with the pages box"):
        load_pages(data, "long.pdf")
    assert len(load_pages(data, "long.pdf", pages="2-4")) == 3
    with pytest.raises(PageInputError, match="choose at most 3"):
        load_pages(data, "long.pdf", pages="1-5")


def test_huge_pdf_page_is_rendered_at_a_lower_dpi():
    # a 200 x 200 inch poster at 300 dpi would be 3.6 gigapixels
    scale = page_input.pdf_scale(200 * 72, 200 * 72)
    assert (200 * 72 * scale) ** 2 <= page_input.MAX_PDF_PAGE_PIXELS
    assert page_input.pdf_scale(595, 842) == pytest.approx(300 / 72)  # A4 keeps 300 dpi


def test_corrupt_pdf():
    with pytest.raises(PageInputError, match="PDF is corrupt"):
        load_pages(b"%PDF-1.7\n" + b"\x00garbage" * 50, "broken.pdf")
    with pytest.raises(PageInputError, match="named .pdf but is not a PDF"):
        load_pages(b"hello there", "score.pdf")


def test_non_image():
    with pytest.raises(PageInputError, match="not an image or PDF"):
        load_pages(b"<html><body>not music</body></html>", "page.html")
    with pytest.raises(PageInputError, match="empty"):
        load_pages(b"", "nothing.png")


def test_truncated_image():
    data = encoded(marked_page((600, 800)), "PNG")
    with pytest.raises(PageInputError, match="corrupt or truncated"):
        load_pages(data[: len(data) // 2])
    jpeg = encoded(marked_page((600, 800)), "JPEG")
    with pytest.raises(PageInputError, match="corrupt or truncated"):
        load_pages(jpeg[:300])


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims width x height pixels (a decompression bomb)."""
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" * (width + 1) * 4)  # a few rows only
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.mark.parametrize("width,height", [(20_000, 20_000), (100_000, 100_000)])
def test_decompression_bomb_is_refused_before_decoding(width, height):
    data = png_declaring(width, height)
    assert len(data) < 10_000
    with pytest.raises(PageInputError, match="too large.*megapixels"):
        load_pages(data, "bomb.png")


def test_big_image_is_scaled_to_the_working_size(monkeypatch):
    monkeypatch.setattr(page_input, "WORKING_PIXELS", 100_000)
    [loaded] = load_pages(encoded(marked_page((600, 800)), "PNG"))
    assert loaded.width * loaded.height <= 100_000 and abs(loaded.width / loaded.height - 0.75) < 0.01


def test_too_many_bytes(monkeypatch):
    monkeypatch.setattr(page_input, "MAX_BYTES", 1000)
    with pytest.raises(PageInputError, match="limit is"):
        load_pages(b"\x89PNG" + b"\x00" * 2000)


def test_multipage_tiff_and_heic():
    frames = [marked_page((120, 160)), Image.new("RGB", (120, 160), (255, 255, 255))]
    data = encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    assert len(load_pages(data)) == 2
    assert len(load_pages(data, pages="2")) == 1
    with pytest.raises(PageInputError, match="HEIC"):
        load_pages(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 100, "IMG_1234.HEIC")


def test_load_from_path(tmp_path):
    path = tmp_path / "page.png"
    path.write_bytes(encoded(marked_page(), "PNG"))
    assert len(load_pages_from_path(path)) == 1
    with pytest.raises(PageInputError, match="Cannot read"):
        load_pages_from_path(tmp_path / "missing.png")


# -- bounded work per request (issue 20) ------------------------------------------------------------


def test_a_long_page_selection_is_refused_at_once_before_the_pdf_is_opened():
    """A 50,000-page PDF with pages "1-50000," x 20 took 248 s under the PDFium lock (a quadratic
    membership test), and a one-page PDF sent meanwhile waited for it."""
    import time

    many = blank_pdf(50_000, 20, 20)
    start = time.perf_counter()
    with pytest.raises(PageInputError, match="You chose 50,000 pages; choose at most 30"):
        load_pages(many, pages="1-50000," * 20)
    assert time.perf_counter() - start < 2
    with pytest.raises(PageInputError, match="page selection is 10,000 characters long"):
        load_pages(many, pages="1" * 10_000)  # was int()'s digit limit, reported as an unreadable file
    # the selection is read before the PDF is opened (and the lock taken): its error comes first
    with pytest.raises(PageInputError, match="Pages must look like"):
        load_pages(b"%PDF-1.7\n" + b"\x00garbage" * 50, pages="one")


def test_page_ranges_are_counted_without_listing_them():
    assert page_input.parse_page_ranges("1-3, 5, 7-") == [(1, 3), (5, 5), (7, None)]
    assert page_input.choose_pages([(2, 4), (1, 3), (10, None)], 11) == [1, 2, 3, 0, 9, 10]
    with pytest.raises(PageInputError, match="You chose 999,999,999 pages"):
        page_input.choose_pages([(1, 999_999_999)] * 3, 10**9)
    with pytest.raises(PageInputError, match="page 4 does not exist"):
        parse_pages("4-", 3)  # an open range past the end names no page, and says so


def test_thirty_huge_pdf_pages_stay_within_the_request_pixel_budget():
    """Thirty 14400 x 14400 pt pages (a 4 KB file) were each rendered at 25 MP and held together: 3.7 GB.
    Run in a fresh process to measure its peak memory."""
    import subprocess
    import sys

    data = blank_pdf(30, 14_400, 14_400)
    assert len(data) < 20_000
    script = (
        "import resource, sys; from acai_hf.page.page_input import load_pages; "
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
        "pages = load_pages(sys.stdin.buffer.read()); "
        "print(len(pages), sum(p.width * p.height for p in pages), "
        "(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)"
    )
    result = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True, timeout=120,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    count, pixels, grown_mib = map(int, result.stdout.split())
    assert count == 30 and pixels <= page_input.MAX_REQUEST_PIXELS == 100_000_000
    assert grown_mib < 800, f"peak memory grew by {grown_mib} MiB"  # 100 MP of RGB is 300 MB


def test_one_huge_page_is_rendered_no_bigger_than_detection_needs():
    from acai_hf.page.system_detection import MAX_WORK_PIXELS

    [page] = load_pages(blank_pdf(1, 14_400, 14_400))
    assert page.width * page.height <= 2 * MAX_WORK_PIXELS  # detection analyses at most MAX_WORK_PIXELS
    [a4] = load_pages(blank_pdf(1, 595, 842))
    assert a4.size == (2480, 3509)  # an A4 page keeps its 300 dpi


def test_pipes_and_devices_are_refused_without_waiting(tmp_path):
    import os

    fifo = tmp_path / "page.png"
    os.mkfifo(fifo)  # nobody writes to it: reading it would wait forever
    with pytest.raises(PageInputError, match="not a regular file"):
        load_pages_from_path(fifo)
    with pytest.raises(PageInputError, match="not a regular file"):
        load_pages_from_path("/dev/zero")  # reading it would never end
    with pytest.raises(PageInputError, match="is a folder"):
        load_pages_from_path(tmp_path)
