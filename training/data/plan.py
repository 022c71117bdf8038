"""What to render: work units drawn from the build seed alone, so any worker can make any unit.

A unit is one piece (a procedural seed, or a corpus file and an excerpt of it) with one engraving seed;
it becomes the systems of that piece. Train and dev units come from separate streams of pieces; the
test split is every reserved corpus piece, each rendered once and whole.
"""
import random
from dataclasses import dataclass

from training.data.sources import corpus, transposition
from training.data.sources.procedural import generate_piece

DEFAULT_MIX = {"procedural": 0.7, "corpus-piano": 0.1, "chorale": 0.1, "quartet": 0.1}
SOURCES = ("procedural", *corpus.SOURCES)
EXCERPT_MEASURES = (12, 32)  # corpus units render an excerpt of this many measures at most


@dataclass(frozen=True)
class Unit:
    split: str
    index: int
    source: str
    piece: str  # the generator seed (procedural) or the corpus path
    seed: int  # engraving, excerpt and procedural difficulty all follow from it
    difficulty: float = 0.5  # procedural only
    max_measures: int | None = None  # corpus only: None renders the whole piece
    semitones: int = 0  # corpus only: the excerpt moved to another key (transposition.py)

    @property
    def piece_id(self) -> str:
        return f"procedural/{self.piece}" if self.source == "procedural" else self.piece


def parse_mix(text: str) -> dict[str, float]:
    """"procedural=0.7,chorale=0.3" -> weights by source."""
    mix = {}
    for item in text.split(","):
        name, _, weight = item.partition("=")
        if name.strip() not in SOURCES:
            raise ValueError(f"unknown source {name.strip()!r}; choose from {', '.join(SOURCES)}")
        mix[name.strip()] = float(weight)
    if sum(mix.values()) <= 0:
        raise ValueError("the mix needs a positive weight")
    return mix


def plan_unit(seed: int, mix: dict[str, float], split: str, index: int, transpose: float = 0.0) -> Unit:
    """The index-th train or dev unit of a build. `transpose`: the share of train corpus excerpts moved to
    another key (dev stays as written, so that its figures measure real pieces)."""
    rng = random.Random(f"{seed}/{split}/{index}")
    source = rng.choices(list(mix), weights=list(mix.values()))[0]
    if source == "procedural":
        piece = str(rng.getrandbits(48))
        return Unit(split, index, source, piece, rng.getrandbits(32), difficulty=round(rng.random(), 3))
    piece = rng.choice(corpus.pieces(source, split))
    max_measures = rng.randint(*EXCERPT_MEASURES)
    engraving_seed = rng.getrandbits(32)
    semitones = 0
    if transpose > 0 and split == "train" and rng.random() < transpose:  # no draw at 0: older builds stay
        semitones = rng.choice(transposition.SEMITONES)
    return Unit(split, index, source, piece, engraving_seed, max_measures=max_measures, semitones=semitones)


def test_units(seed: int, limit: int | None = None) -> list[Unit]:
    """One unit per reserved piece, in the list's order (the first `limit` of them)."""
    paths = corpus.reserved_paths()[:limit]
    return [
        Unit("test", index, corpus.source_of(path), path, random.Random(f"{seed}/test/{index}").getrandbits(32))
        for index, path in enumerate(paths)
    ]


def unit_musicxml(unit: Unit) -> str:
    """The MusicXML the unit renders."""
    if unit.source == "procedural":
        return generate_piece(int(unit.piece), unit.difficulty)
    return corpus.load_piece(unit.piece, random.Random(unit.seed), unit.max_measures, unit.semitones)
