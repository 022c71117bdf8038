"""One row of the system schema (FEATURES) built from raw parts, the same way for every loader."""
from acai_hf.page.grayscale import grayscale_image_bytes


def lmx_text(value) -> str:
    """LMX as tokens separated by single spaces, from a string or a list of tokens (None: empty)."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(str(token) for token in value)
    return " ".join(str(value).split())


def measure_count(lmx: str) -> int:
    return lmx.split().count("measure")


def schema_row(
    image_bytes: bytes,
    lmx,
    *,
    source: str,
    piece_id: str,
    system_index: int,
    musicxml: str | None = None,
    n_measures: int | None = None,
    engraving: str | None = None,
    token_boxes: list | None = None,
    token_glyph_boxes: list | None = None,
    staff_lines: list | None = None,
) -> dict:
    """A row ready for FEATURES: grayscale image bytes, normalised LMX, defaults for what is unknown."""
    text = lmx_text(lmx)
    return {
        # Bytes only: given a local path, `datasets` would store the path and drop the grayscale bytes.
        "image": {"bytes": grayscale_image_bytes(image_bytes), "path": None},
        "lmx": text,
        "musicxml": musicxml or "",
        "source": source,
        "piece_id": piece_id,
        "system_index": system_index,
        "n_measures": measure_count(text) if n_measures is None else n_measures,
        "engraving": engraving or "{}",
        "token_boxes": token_boxes,  # outside data has no geometry: null
        "token_glyph_boxes": token_glyph_boxes,
        "staff_lines": staff_lines,
    }
