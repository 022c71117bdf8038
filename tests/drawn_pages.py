"""Pages drawn in a few lines: grand-staff systems (two staves joined by barlines) on white paper, and
the same pages as a phone sees them (turned, in perspective, bowed like an open book's page), with
where every staff line then starts and ends."""
import io
import math

import numpy as np
from PIL import Image, ImageDraw


def system_tops(systems: int, space: int) -> list[int]:
    """The top line of each system's upper staff, as draw_page places them."""
    staff = 4 * space
    return [120 + index * (2 * staff + 14 * space) for index in range(systems)]


def draw_page(systems: int = 3, width: int = 1200, space: int = 12, left: int = 80) -> Image.Image:
    """A page with `systems` systems; each staff has five lines `space` pixels apart."""
    staff = 4 * space
    system_height = 2 * staff + 6 * space
    height = 150 + systems * (system_height + 8 * space)
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    for top in system_tops(systems, space):
        lower = top + staff + 6 * space
        for staff_top in (top, lower):
            for line in range(5):
                y = staff_top + line * space
                draw.line([(left, y), (width - left, y)], fill="black", width=2)
        for x in range(left, width - left + 1, (width - 2 * left) // 4):  # barlines through both staves
            draw.line([(x, top), (x, lower + staff)], fill="black", width=3)
        for x in range(left + 40, width - left - 20, 57):  # note heads
            draw.ellipse([x, top + space, x + space, top + 2 * space - 2], fill="black")
    return page


def staff_line_ends(systems: int = 3, width: int = 1200, space: int = 12, left: int = 80) -> np.ndarray:
    """(systems, 10 lines, 2 ends, xy) of the lines draw_page draws with the same arguments."""
    ends = np.zeros((systems, 10, 2, 2))
    for index, top in enumerate(system_tops(systems, space)):
        lower = top + 4 * space + 6 * space
        rows = [staff_top + line * space for staff_top in (top, lower) for line in range(5)]
        for number, y in enumerate(rows):
            ends[index, number] = [(left, y), (width - left, y)]
    return ends


class PhoneView:
    """Where a point of a flat page lands in a photo of it: the page bowed like an open book's (lines
    bend, more so far from the middle), in perspective (the far edge narrower), turned `degrees`
    clockwise, on a canvas with `border` pixels of paper around the page."""

    def __init__(self, size, degrees=0.0, keystone=0.0, bow=0.0, border=80):
        self.width, self.height = size
        self.degrees, self.keystone, self.bow, self.border = degrees, keystone, bow, border

    @property
    def canvas(self) -> tuple[int, int]:
        return self.width + 2 * self.border, self.height + 2 * self.border

    def forward(self, x, y):
        """Flat page (x, y) -> photo (x, y); arrays or numbers."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        cx, cy = self.width / 2, self.height / 2
        u, v = (x - cx) / cx, (y - cy) / cy  # -1..1 across the page
        # bow: every line sags towards the page's ends, those far from the middle more
        y = y + self.bow * u ** 2 * (0.6 + 0.4 * v)
        # perspective: rows further up are drawn narrower
        x = cx + (x - cx) * (1 - self.keystone * (1 - v) / 2)
        angle = math.radians(self.degrees)
        dx, dy = x - cx, y - cy
        x, y = cx + dx * math.cos(angle) - dy * math.sin(angle), cy + dx * math.sin(angle) + dy * math.cos(angle)
        return x + self.border, y + self.border

    def inverse(self, x, y, iterations: int = 30):
        """Photo (x, y) -> flat page (x, y), by fixed-point steps (the view is near the identity)."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        px, py = x - self.border, y - self.border
        for _ in range(iterations):
            fx, fy = self.forward(px, py)
            px, py = px + (x - fx), py + (y - fy)
        return px, py

    def photograph(self, page: Image.Image, tile: int = 8) -> Image.Image:
        """The page as the photo shows it (a mesh of small tiles, each mapped to its quad on the page)."""
        width, height = self.canvas
        xs = np.arange(0, width + tile, tile)
        ys = np.arange(0, height + tile, tile)
        grid_x, grid_y = np.meshgrid(xs, ys)
        source_x, source_y = self.inverse(grid_x, grid_y)
        mesh = []
        for j in range(len(ys) - 1):
            for i in range(len(xs) - 1):
                corners = [(j, i), (j + 1, i), (j + 1, i + 1), (j, i + 1)]  # PIL: nw, sw, se, ne
                quad = [value for a, b in corners for value in (source_x[a, b], source_y[a, b])]
                mesh.append(((int(xs[i]), int(ys[j]), int(xs[i + 1]), int(ys[j + 1])), quad))
        return page.transform((width, height), Image.MESH, mesh, resample=Image.BILINEAR, fillcolor="white")


def page_bytes(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()
