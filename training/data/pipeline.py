"""One piece in, labelled systems out: engrave, slice the ground truth, check, and make schema rows."""
import io
import json
import random

from acai_hf.music.voices import renumber_voices

from training.data import checks, render, slicing
from training.data.svg_geometry import read_page
from training.data.system_rows import schema_row
from training.data.token_geometry import (
    PixelMapping, SystemGeometry, clef_disagreements, strip_note_ids, system_geometry, tag_notes,
)  # fmt: skip
from training.data.token_owners import token_owners


def png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def piece_systems(musicxml: str, *, source: str, piece_id: str, seed: int,
                  engraving: render.Engraving | None = None) -> tuple[list[dict], list[str]]:
    """Schema rows for every system of the piece that passes the checks, and why the others failed.
    The engraving is drawn from the seed unless given."""
    rng = random.Random(seed)
    engraving = engraving or render.random_engraving(rng)
    root = slicing.parse(musicxml)
    tag_notes(root)  # the ids come back in the SVG: each drawn note maps to its ground truth
    systems = render.render_piece(slicing.to_string(root), engraving, rng)
    part = slicing.read_part(root)
    states = slicing.states_at_measure_starts(part)
    rows, drops = [], []
    for index, system in enumerate(systems):
        reason = checks.measure_mismatch(system)
        if reason is None:
            start, stop = system.measures[0], system.measures[-1] + 1
            truth = slicing.system_score(part, start, stop, states[start])
            renumber_voices(truth.find("part"))  # as linearize numbers them, so MusicXML and LMX agree
            tagged_xml = slicing.to_string(truth)  # still with the note ids the geometry is read by
            try:
                lmx = slicing.linearize(tagged_xml)
            except ValueError as error:
                reason = f"linearize: {error}"
            else:
                reason = checks.truth_mismatch(system, truth, lmx)
        if reason is None:
            geometry, reason = _geometry(system, truth, tagged_xml, lmx, engraving)
        if reason is not None:
            drops.append(f"system {index}: {reason}")
            continue
        strip_note_ids(truth)
        settings = engraving.as_dict() | {"crop_margins": list(system.crop_margins)}
        rows.append(
            schema_row(
                png_bytes(system.image),
                lmx,
                source=source,
                piece_id=piece_id,
                system_index=index,
                musicxml=slicing.to_string(truth),
                n_measures=len(system.measures),
                engraving=json.dumps(settings, sort_keys=True),
                token_boxes=geometry.token_boxes,
                token_glyph_boxes=geometry.token_glyph_boxes,
                staff_lines=geometry.staff_lines,
            )
        )
    return rows, drops


def _geometry(system: render.RenderedSystem, truth, tagged_xml: str, lmx: str,
              engraving) -> tuple[SystemGeometry | None, str | None]:
    """The system's token boxes, or why its drawing and its LMX cannot be matched."""
    tokens, owners = token_owners(tagged_xml)
    if tokens != lmx.split():
        return None, "geometry: the recorded tokens differ from the LMX"
    page = read_page(system.svg, engraving.font)
    mapping = PixelMapping(render.raster_zoom(engraving.pixels_per_space), system.crop_origin, system.image.size)
    geometry = system_geometry(tokens, owners, page, system.measures, mapping)
    if len(geometry.staff_lines) != 2:
        return None, f"geometry: {len(geometry.staff_lines)} staves drawn"
    wrong = clef_disagreements(tokens, owners, geometry, truth)
    if wrong:
        return None, f"geometry: {wrong} noteheads drawn where the clef in force puts another step"
    return geometry, None
