"""System boxes: one rectangle per grand-staff system on a page, and the rules the app and CLI share.

Coordinates are pixels of the page image, `right` and `bottom` exclusive. `rotation` (degrees,
clockwise on screen, about the box's centre) lets a box follow a tilted system; `crop_system`
returns its content turned upright.

`gradio_image_annotation` (0.5.x) gives boxes as dicts with `xmin`, `ymin`, `xmax`, `ymax` (and
`label`, `color`); its value may carry `orientation`, the number of quarter turns clockwise the user
gave the whole image, and then the boxes are in the turned image's coordinates. `from_annotator_value`
returns the image turned the same way together with the boxes, so that crops match what the user saw.
A per-box `rotation` (or `angle`) key, which other annotators give, is honoured too.
"""
import math
from dataclasses import dataclass, replace

from PIL import Image

MIN_HEIGHT = 32  # pixels; a grand-staff system at any usable resolution is taller
MIN_WIDTH = 64
BOX_LABEL = "system"
BOX_COLOR = (168, 50, 160)  # acai purple


@dataclass(frozen=True)
class SystemBox:
    left: float
    top: float
    right: float
    bottom: float
    rotation: float = 0.0  # degrees, clockwise, about the centre

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def center(self) -> tuple[float, float]:
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def as_tuple(self) -> tuple[int, int, int, int]:
        return round(self.left), round(self.top), round(self.right), round(self.bottom)

    def as_dict(self) -> dict:
        left, top, right, bottom = self.as_tuple()
        box = {"left": left, "top": top, "right": right, "bottom": bottom}
        if self.rotation:
            box["rotation"] = self.rotation
        return box

    def rounded(self) -> "SystemBox":
        return replace(self, **dict(zip(("left", "top", "right", "bottom"), self.as_tuple())))


def iou(a: SystemBox, b: SystemBox) -> float:
    """Intersection over union of two boxes (their rotations are ignored)."""
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (a.area + b.area - inter)


def sort_reading_order(boxes) -> list[SystemBox]:
    """Top to bottom; boxes side by side (their vertical spans mostly overlap) left to right.

    Boxes are grouped into rows: a box joins the current row when at least half of the smaller of
    the two heights overlaps the row's span. Rows go top to bottom, boxes in a row left to right.
    """
    rows: list[list[SystemBox]] = []
    for box in sorted(boxes, key=lambda b: (b.center[1], b.left)):
        if rows:
            row = rows[-1]
            top, bottom = min(b.top for b in row), max(b.bottom for b in row)
            overlap = min(bottom, box.bottom) - max(top, box.top)
            smaller = min(box.height, max(b.height for b in row))
            if smaller > 0 and overlap >= 0.5 * smaller:
                row.append(box)
                continue
        rows.append([box])
    return [box for row in rows for box in sorted(row, key=lambda b: b.left)]


def clip(box: SystemBox, width: int, height: int) -> SystemBox:
    """The part of the box inside a width x height image (possibly empty: width or height <= 0)."""
    left, right = min(max(box.left, 0), width), min(max(box.right, 0), width)
    top, bottom = min(max(box.top, 0), height), min(max(box.bottom, 0), height)
    return replace(box, left=left, top=top, right=right, bottom=bottom)


def normalise(box: SystemBox) -> SystemBox:
    """The same box with left <= right and top <= bottom (a box drawn from right to left)."""
    return replace(
        box,
        left=min(box.left, box.right), right=max(box.left, box.right),
        top=min(box.top, box.bottom), bottom=max(box.top, box.bottom),
    )


def validate_boxes(boxes, image_size, min_height: int = MIN_HEIGHT, min_width: int = MIN_WIDTH):
    """-> (valid boxes clipped to the image and in reading order, messages about the others).

    Messages number the boxes as given (1-based), so the user can find the one meant.
    """
    width, height = image_size
    valid, messages = [], []
    for number, box in enumerate(boxes, start=1):
        box = normalise(box)
        clipped = clip(box, width, height)
        if box.width <= 0 or box.height <= 0:
            messages.append(f"Box {number} is empty; draw it around a whole system.")
        elif clipped.width <= 0 or clipped.height <= 0:
            messages.append(f"Box {number} lies outside the page; move it onto a system.")
        elif clipped.height < min_height or clipped.width < min_width:
            messages.append(
                f"Box {number} is too small ({clipped.width:.0f} x {clipped.height:.0f} pixels inside the page; "
                f"at least {min_width} x {min_height}): a box must hold a whole system, both staves."
            )
        else:
            valid.append(clipped.rounded())
    return sort_reading_order(valid), messages


def crop_system(image: Image.Image, box: SystemBox, fill=None) -> Image.Image:
    """The box's content, upright; area beyond the image is white paper (or `fill`)."""
    box = normalise(box)
    if fill is None:
        fill = 255 if image.mode in ("L", "1", "I", "F") else (255,) * len(image.getbands())
    if not box.rotation:
        left, top, right, bottom = box.as_tuple()
        if 0 <= left and 0 <= top and right <= image.width and bottom <= image.height:
            return image.crop((left, top, right, bottom))
        canvas = Image.new(image.mode, (max(1, right - left), max(1, bottom - top)), fill)
        canvas.paste(image.crop((max(left, 0), max(top, 0), min(right, image.width), min(bottom, image.height))),
                     (max(-left, 0), max(-top, 0)))
        return canvas
    # output (u, v), measured from the box's top left, maps to the image point
    # centre + R(rotation) * (u - w/2, v - h/2)
    out_width, out_height = max(1, round(box.width)), max(1, round(box.height))
    cx, cy = box.center
    angle = math.radians(box.rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    x0 = cx - cos * out_width / 2 + sin * out_height / 2
    y0 = cy - sin * out_width / 2 - cos * out_height / 2
    # PIL's affine: x = a*u + b*v + c, y = d*u + e*v + f
    return image.transform((out_width, out_height), Image.AFFINE, (cos, -sin, x0, sin, cos, y0),
                           resample=Image.BICUBIC, fillcolor=fill)


def from_annotator(box: dict) -> SystemBox:
    """A box dict of gradio_image_annotation (xmin, ymin, xmax, ymax; rotation or angle if present)."""
    rotation = float(box.get("rotation", box.get("angle", 0.0)) or 0.0)
    return normalise(SystemBox(float(box["xmin"]), float(box["ymin"]), float(box["xmax"]), float(box["ymax"]),
                               rotation))


def to_annotator(box: SystemBox, label: str = BOX_LABEL, color=BOX_COLOR) -> dict:
    """The annotator's box dict (integer pixels). The annotator draws no rotation, so none is sent."""
    left, top, right, bottom = box.as_tuple()
    return {"xmin": left, "ymin": top, "xmax": right, "ymax": bottom, "label": label, "color": tuple(color)}


def orient(image: Image.Image, orientation: int) -> Image.Image:
    """The image turned `orientation` quarter turns clockwise, as the annotator shows it."""
    turns = int(orientation or 0) % 4
    return {
        0: lambda: image,
        1: lambda: image.transpose(Image.Transpose.ROTATE_270),  # PIL's ROTATE_* turn anticlockwise
        2: lambda: image.transpose(Image.Transpose.ROTATE_180),
        3: lambda: image.transpose(Image.Transpose.ROTATE_90),
    }[turns]()


def from_annotator_value(value: dict, image: Image.Image | None = None) -> tuple[Image.Image, list[SystemBox]]:
    """(the image as the user saw it, its boxes as given) from the annotator's value dict.

    `image` replaces value["image"] (e.g. the page as loaded on the server, never a client path).
    """
    if image is None:
        image = value["image"]
        if not isinstance(image, Image.Image):
            image = Image.fromarray(image)
    image = orient(image, value.get("orientation") or 0)
    return image, [from_annotator(box) for box in value.get("boxes") or []]


def to_annotator_value(image, boxes, label: str = BOX_LABEL, color=BOX_COLOR) -> dict:
    return {"image": image, "boxes": [to_annotator(box, label, color) for box in boxes], "orientation": 0}


__all__ = [
    "SystemBox", "iou", "sort_reading_order", "clip", "normalise", "validate_boxes", "crop_system",
    "from_annotator", "to_annotator", "orient", "from_annotator_value", "to_annotator_value",
    "MIN_HEIGHT", "MIN_WIDTH",
]
