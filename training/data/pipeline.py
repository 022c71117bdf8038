"""One piece in, labelled systems out: engrave, slice the ground truth, check, and make schema rows."""
import io
import json
import random

from acai_hf.voices import renumber_voices

from training.data import checks, render, slicing
from training.data.system_rows import schema_row


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
    systems = render.render_piece(musicxml, engraving, rng)
    part = slicing.read_part(musicxml)
    states = slicing.states_at_measure_starts(part)
    rows, drops = [], []
    for index, system in enumerate(systems):
        reason = checks.measure_mismatch(system)
        if reason is None:
            start, stop = system.measures[0], system.measures[-1] + 1
            truth = slicing.system_score(part, start, stop, states[start])
            renumber_voices(truth.find("part"))  # as linearize numbers them, so MusicXML and LMX agree
            truth_xml = slicing.to_string(truth)
            try:
                lmx = slicing.linearize(truth_xml)
            except ValueError as error:
                reason = f"linearize: {error}"
            else:
                reason = checks.truth_mismatch(system, truth, lmx)
        if reason is not None:
            drops.append(f"system {index}: {reason}")
            continue
        settings = engraving.as_dict() | {"crop_margins": list(system.crop_margins)}
        rows.append(
            schema_row(
                png_bytes(system.image),
                lmx,
                source=source,
                piece_id=piece_id,
                system_index=index,
                musicxml=truth_xml,
                n_measures=len(system.measures),
                engraving=json.dumps(settings, sort_keys=True),
            )
        )
    return rows, drops
