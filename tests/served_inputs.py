"""What the tests and bench/abuse.py hand a served app: a free local port, and PDFs of blank pages
(real PDFs, a few bytes a page, of any page count and size)."""
import io
import socket


def free_port() -> int:
    """A local TCP port nobody listens on now (for servers and process groups the tests start)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def blank_pdf(n_pages: int, width_pt: float, height_pt: float) -> bytes:
    """A real PDF of n blank pages of the given size in points."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    for _ in range(n_pages):
        document.new_page(width_pt, height_pt)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
