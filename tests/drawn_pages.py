"""Pages drawn in a few lines: grand-staff systems (two staves joined by barlines) on white paper."""
import io

from PIL import Image, ImageDraw


def draw_page(systems: int = 3, width: int = 1200, space: int = 12, left: int = 80) -> Image.Image:
    """A page with `systems` systems; each staff has five lines `space` pixels apart."""
    staff = 4 * space
    system_height = 2 * staff + 6 * space
    height = 150 + systems * (system_height + 8 * space)
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    top = 120
    for _ in range(systems):
        lower = top + staff + 6 * space
        for staff_top in (top, lower):
            for line in range(5):
                y = staff_top + line * space
                draw.line([(left, y), (width - left, y)], fill="black", width=2)
        for x in range(left, width - left + 1, (width - 2 * left) // 4):  # barlines through both staves
            draw.line([(x, top), (x, lower + staff)], fill="black", width=3)
        for x in range(left + 40, width - left - 20, 57):  # note heads
            draw.ellipse([x, top + space, x + space, top + 2 * space - 2], fill="black")
        top = lower + staff + 8 * space
    return page


def page_bytes(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()
