"""Does a rendered system show exactly its ground truth? A system that fails is dropped with a reason.

The SVG is the witness: the measures it draws (by the ids we put on them), and the notes and rests it
draws, are compared with the sliced MusicXML.
"""
from training.data.render import RenderedSystem
from training.data.slicing import count_notes


def measure_mismatch(system: RenderedSystem) -> str | None:
    """Why the SVG's measures cannot be one run of the piece's measures (None when they can)."""
    if system.clipped:
        return "clipped: ink touches the page edge"
    measures = system.measures
    if not measures:
        return "no measure of ours in the SVG"
    if len(measures) != system.svg_measure_count:
        return f"SVG draws {system.svg_measure_count} measures, {len(measures)} of them ours"
    if measures != list(range(measures[0], measures[0] + len(measures))):
        return f"SVG measures are not consecutive: {measures}"
    return None


def truth_mismatch(system: RenderedSystem, truth, lmx: str) -> str | None:
    """Why the image and its ground truth (score element and LMX) disagree (None when they agree)."""
    notes, rests = count_notes(truth)
    if notes != system.note_count:
        return f"notes: image {system.note_count}, truth {notes}"
    if rests != system.rest_count:
        return f"rests: image {system.rest_count}, truth {rests}"
    lmx_measures = lmx.split().count("measure")
    if lmx_measures != len(system.measures):
        return f"measures: image {len(system.measures)}, LMX {lmx_measures}"
    return None
