"""Real music from music21's bundled corpus, as clean one-part grand-staff MusicXML.

Three sources: "corpus-piano" (solo piano pieces and the piano parts of songs and chamber music),
"chorale" (Bach chorales, soprano and alto on the upper staff, tenor and bass on the lower one) and
"quartet" (string quartets reduced the same way). The files are read as MusicXML directly (music21 only
converts the few Humdrum files): one parse, no re-export, so no music21 accidental or voice surprises.
Reserved pieces form the test split; the example pages' pieces go to dev; the others go to train or dev by a
hash of the piece.
"""
import random
import zipfile
import zlib
from functools import lru_cache
from pathlib import Path

from lxml import etree as ET
from music21 import common

from training.data import slicing
from training.data.sources import grand_staff, reduction, transposition

SOURCES = ("corpus-piano", "chorale", "quartet")
RESERVED_LIST = Path(__file__).parents[1] / "reserved_pieces.txt"
DEV_PERCENT = 5  # share of non-reserved pieces in the dev split
# the corpus pieces of the bundled example pages (examples/make_examples.py): never trained on, so that the
# examples check reading, not memory; they go to dev (builds made before this also have them in train:
# training.batches.splits drops them there)
EXAMPLE_PIECES = ("schumann_clara/polonaise_op1n2.mxl", "bach/bwv1.6.mxl")

PIANO_PIECES = (
    "bach/bwv846.mxl",
    "cpebach/h186.mxl",
    "joplin/maple_leaf_rag.mxl",
    "mozart/k545/movement1_exposition.mxl",
    "schoenberg/opus19/movement2.mxl",
    "schoenberg/opus19/movement6.mxl",
    "schumann_clara/polonaise_op1n1.mxl",
    "schumann_clara/polonaise_op1n2.mxl",
    "schumann_clara/polonaise_op1n3.mxl",
    "schumann_clara/polonaise_op1n4.mxl",
    "verdi/laDonnaEMobile.mxl",
    # piano parts of songs and chamber music (dichterliebe_no2.xml duplicates opus48no2)
    "beach/prayer_of_a_tired_child.musicxml",
    "handel/rinaldo/Lascia_chio_pianga.mxl",
    "liliuokalani/aloha_oe.mxl",
    "schubert/Lindenbaum.xml",
    "schumann_clara/opus17/movement3.xml",
    "schumann_robert/opus48no2.mxl",
    "weber/concertino_clarinet.mxl",
)
QUARTET_FOLDERS = (
    "beethoven", "haydn", "mozart/k80", "mozart/k155", "mozart/k156", "mozart/k458",
    "schumann_robert/opus41no1",
)  # fmt: skip
SATB = ("soprano", "alto", "tenor", "bass")


def corpus_root() -> Path:
    return Path(common.getCorpusFilePath())


def piece_key(path: str) -> str:
    """One piece in any of its file formats (bach/bwv366.krn and bach/bwv366.mxl are one piece)."""
    return path.rsplit(".", 1)[0]


@lru_cache(maxsize=1)
def reserved_paths() -> tuple[str, ...]:
    lines = RESERVED_LIST.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip())


def source_of(path: str) -> str:
    if path in PIANO_PIECES:
        return "corpus-piano"
    if path.startswith(QUARTET_FOLDERS):
        return "quartet"
    if path.startswith("bach/"):
        return "chorale"
    raise ValueError(f"{path} is in no corpus source")


@lru_cache(maxsize=1)
def catalogue() -> dict[str, str]:
    """Every usable corpus file (path relative to the corpus) -> its source. Humdrum files are left
    out: each one duplicates a MusicXML file here."""
    root = corpus_root()
    paths = list(PIANO_PIECES)
    for folder in QUARTET_FOLDERS:
        paths += sorted(str(p.relative_to(root)) for p in (root / folder).rglob("*.mxl"))
    chorales = sorted((root / "bach").glob("bwv*.mxl")) + sorted((root / "bach").glob("bwv*.xml"))
    paths += [str(p.relative_to(root)) for p in chorales if str(p.relative_to(root)) not in PIANO_PIECES]
    return {path: source_of(path) for path in paths}


@lru_cache(maxsize=1)
def reserved_keys() -> frozenset[str]:
    return frozenset(piece_key(path) for path in reserved_paths())


def example_keys() -> frozenset[str]:
    return frozenset(piece_key(path) for path in EXAMPLE_PIECES)


def split_of(path: str) -> str:
    key = piece_key(path)
    if key in reserved_keys():
        return "test"
    if key in example_keys():
        return "dev"
    return "dev" if zlib.crc32(key.encode()) % 100 < DEV_PERCENT else "train"


@lru_cache(maxsize=None)
def pieces(source: str, split: str) -> tuple[str, ...]:
    """Corpus paths of one source in one split (the test split lists the reserved pieces)."""
    if split == "test":
        return tuple(path for path in reserved_paths() if source_of(path) == source)
    return tuple(path for path, s in catalogue().items() if s == source and split_of(path) == split)


@lru_cache(maxsize=4)
def read_score(path: str) -> ET._Element:
    """The score-partwise root of a corpus file (shared: never change it)."""
    full = corpus_root() / path
    if full.suffix == ".mxl":
        with zipfile.ZipFile(full) as archive:
            container = slicing.parse(archive.read("META-INF/container.xml"))
            rootfile = next(e for e in container.iter() if str(e.tag).endswith("rootfile"))
            return slicing.parse(archive.read(rootfile.get("full-path")))
    if full.suffix in (".xml", ".musicxml"):
        return slicing.parse(full.read_bytes())
    from music21 import converter  # slow to import; only Humdrum files need it
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    return slicing.parse(GeneralObjectExporter(converter.parse(full)).parse())


def four_parts(score: ET._Element, by_name: bool) -> list[ET._Element]:
    """The parts to reduce, high to low: S, A, T, B by name (chorales, which may add instruments or
    split a voice), else all four parts in score order."""
    parts = score.findall("part")
    if by_name:
        names = {p.get("id"): (p.findtext("part-name") or "").strip().lower() for p in score.iter("score-part")}
        chosen = [[p for p in parts if names.get(p.get("id"), "").startswith(voice)] for voice in SATB]
        if all(chosen):
            return [candidates[0] for candidates in chosen]  # of "Soprano 1" and "Soprano 2", the first
    if len(parts) != 4:
        raise ValueError(f"expected four voices, found {len(parts)} parts")
    return parts


def load_piece(path: str, rng: random.Random, max_measures: int | None = None, semitones: int = 0) -> str:
    """MusicXML of the piece, or of a random excerpt of at most max_measures measures (an excerpt
    starts like a system: key and clefs stated, the time signature only if that measure changes it),
    moved `semitones` to another key where it can be spelled so (transposition.py), else as written."""
    score = read_score(path)
    n_measures = len(score.find("part").findall("measure"))
    length = n_measures if max_measures is None else min(n_measures, max_measures)
    start = rng.randrange(n_measures - length + 1)
    if source_of(path) == "corpus-piano":
        part = grand_staff.piano_part(score, start, start + length)
    else:
        parts = four_parts(score, by_name=source_of(path) == "chorale")
        part = reduction.reduce_to_grand_staff(parts, start, start + length)
    moved = transposition.transposed(part, semitones) if semitones else None
    if moved is not None:
        part = moved
    return slicing.to_string(grand_staff.to_score(part))
