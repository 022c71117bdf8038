"""Procedural pianoform music written straight to MusicXML: the generator behind most training data.

A piece is planned (key, meter, phrases, cadences, textures), composed (melody, accompaniment,
chorale parts), decorated (slurs, articulations, dynamics), engraved (clefs, values, beams, stems,
accidentals) and written out. Everything is driven by one seeded random generator, so a seed
always gives the same piece; `difficulty` (0..1) raises density, tuplets, voices, chromaticism, range.
"""
import random
from collections.abc import Iterator

from training.data.sources.procedural_accidentals import set_accidentals
from training.data.sources.procedural_clefs import assign_clefs
from training.data.sources.procedural_compose import compose
from training.data.sources.procedural_marks import decorate
from training.data.sources.procedural_musicxml import piece_to_musicxml
from training.data.sources.procedural_notation import engrave
from training.data.sources.procedural_plan import plan_piece


def generate_piece(seed: int, difficulty: float = 0.5, n_measures: int | None = None) -> str:
    """A MusicXML 4.0 score-partwise string: one part "Piano" on two staves, measures numbered 1..N."""
    rng = random.Random(seed)
    bars = plan_piece(rng, difficulty, n_measures)
    measures = compose(bars, rng)
    decorate(measures, difficulty, rng)
    assign_clefs(measures)
    engrave(measures)
    set_accidentals(measures, courtesy=0.1 + 0.3 * difficulty, rng=rng)
    return piece_to_musicxml(measures)


def iter_pieces(count: int, seed: int, difficulty_range: tuple[float, float] = (0.0, 1.0)) -> Iterator[tuple[str, str]]:
    """(piece_id, musicxml) pairs; a piece's id and content depend only on (seed, its index)."""
    for index in range(count):
        difficulty = random.Random(f"difficulty-{seed}-{index}").uniform(*difficulty_range)
        yield f"proc-{seed}-{index}", generate_piece(seed * 1_000_003 + index, difficulty)
