"""System crops straightened along the staff lines: on a tilted or bowed page (a phone photo of a
book) the model gets level staff lines.

For a box that holds one detected system (`SystemPath`), the crop is turned by the system's mean
tilt and then every column is shifted (and scaled) so that the system's traced top and bottom staff
lines come out straight and level: a bowed page bends along its lines while its columns (barlines,
stems) stay upright. The box decides how much is kept: its left and right edges bound the system's
middle line, its top and bottom edges the band above and below it (a box the user stretched keeps
more). Any other box (drawn by hand where no system was traced, holding two systems, or turned by
the user) is cropped as it is drawn (`crop_system`).

Pillow's mesh transform does the resampling, tile by tile.
"""
import logging

import numpy as np
from PIL import Image

from acai_hf.page.system_boxes import SystemBox, crop_system, normalise
from acai_hf.page.system_detection import SystemPath, analyse

logger = logging.getLogger(__name__)
TILE = 16  # output pixels per mesh tile: the lines' curvature is slight over so few


def match_path(box: SystemBox, paths) -> SystemPath | None:
    """The one traced system the box holds: its middle line inside the box at the system's centre,
    and at least half its width inside the box. None for no such system or for several."""
    held = []
    for path in paths:
        overlap = min(box.right, path.right) - max(box.left, path.left)
        if overlap < 0.5 * (path.right - path.left):
            continue
        centre = (max(box.left, path.left) + min(box.right, path.right)) / 2
        middle = float(np.interp(centre, path.columns, (path.top + path.bottom) / 2))
        if box.top <= middle <= box.bottom:
            held.append(path)
    return held[0] if len(held) == 1 else None


def _band_edge(base, reach, target: float, lowest: bool) -> float:
    """The offset v (output rows from the middle line) whose band edge, image row base + v * reach at
    every column, reaches `target` at its highest point (lowest=False) or lowest point (lowest=True)."""
    low, high = -1e5, 1e5
    for _ in range(60):  # the edge rises steadily with v: halve the interval
        v = (low + high) / 2
        rows = base + v * reach
        edge = rows.max() if lowest else rows.min()
        low, high = (v, high) if edge < target else (low, v)
    return (low + high) / 2


def straighten(image: Image.Image, box: SystemBox, path: SystemPath, fill=None) -> Image.Image:
    """The box's content turned by the system's mean tilt, then shifted (and scaled) column by column
    so that its top and bottom staff lines, and so the lines between, run level across the crop."""
    box = normalise(box)
    if fill is None:
        fill = 255 if image.mode in ("L", "1", "I", "F") else (255,) * len(image.getbands())
    xs = np.linspace(box.left, box.right, max(2, int(box.width) // 2 + 1))
    top, bottom = np.interp(xs, path.columns, path.top), np.interp(xs, path.columns, path.bottom)
    middle = (top + bottom) / 2
    # the mean tilt, from the staff itself: a page bends along its lines, its columns stay upright
    inside = (xs >= path.left) & (xs <= path.right)
    fit = inside if inside.sum() >= 2 else np.ones_like(inside)
    tilt = float(np.arctan(np.polyfit(xs[fit], middle[fit], 1)[0]))
    cos, sin = np.cos(tilt), np.sin(tilt)
    x0, y0 = float(xs[0]), float(middle[0])

    def along_across(x, y):  # image -> (along the tilt, across it), from (x0, y0)
        return (x - x0) * cos + (y - y0) * sin, -(x - x0) * sin + (y - y0) * cos

    along, middle_across = along_across(xs, middle)
    _, top_across = along_across(xs, top)
    _, bottom_across = along_across(xs, bottom)
    half = (bottom_across - top_across) / 2
    reference = float(np.median(half[fit]))
    if reference <= 0 or np.any(np.diff(along) <= 0):
        return crop_system(image, box, fill)
    scale = half / reference  # source pixels per output pixel across the line: the lines come out parallel
    # where an output row lands in the image, column by column: y = base + v * reach
    base_y = y0 + along * sin + middle_across * cos
    reach = scale * cos
    v_top = _band_edge(base_y, reach, box.top, lowest=False)
    v_bottom = _band_edge(base_y, reach, box.bottom, lowest=True)
    out_width, out_height = max(1, round(along[-1] - along[0])), max(1, round(v_bottom - v_top))
    us = np.unique(np.append(np.arange(0, out_width, TILE), out_width))
    rows = np.unique(np.append(np.arange(0, out_height, TILE), out_height))
    a = along[0] + us
    b_middle, b_scale = np.interp(a, along, middle_across), np.interp(a, along, scale)
    across = b_middle[:, None] + (v_top + rows[None, :]) * b_scale[:, None]  # (columns, rows)
    source_x = x0 + a[:, None] * cos - across * sin
    source_y = y0 + a[:, None] * sin + across * cos
    mesh = []
    for i in range(len(us) - 1):
        for j in range(len(rows) - 1):
            corners = [(i, j), (i, j + 1), (i + 1, j + 1), (i + 1, j)]  # PIL: nw, sw, se, ne
            quad = [float(value) for k, l in corners for value in (source_x[k, l], source_y[k, l])]
            mesh.append(((int(us[i]), int(rows[j]), int(us[i + 1]), int(rows[j + 1])), quad))
    return image.transform((out_width, out_height), Image.MESH, mesh, resample=Image.BICUBIC, fillcolor=fill)


def crop_systems(image: Image.Image, boxes, paths=None) -> list[Image.Image]:
    """One crop per box, straightened where the box holds one traced system (`paths`: what detection
    traced on this image; traced here when not given)."""
    boxes = [normalise(box) for box in boxes]
    if paths is None and any(not box.rotation for box in boxes):
        try:
            paths = analyse(image).paths
        except Exception:  # a page detection fails on is still cropped, as the boxes are drawn
            logger.exception("tracing the staves for straightened crops failed")
    paths = paths or []
    crops = []
    for box in boxes:
        path = None if box.rotation else match_path(box, paths)
        crops.append(crop_system(image, box) if path is None else straighten(image, box, path))
    return crops


__all__ = ["crop_systems", "match_path", "straighten"]
