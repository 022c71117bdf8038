"""The OLiMPiC / GrandStaff-LMX folder layout, read into the system schema.

OLiMPiC: `samples/<piece>/p<page>-s<system>.png` next to `.lmx` and `.musicxml`, with split indexes
`samples.<split>.txt` (train, dev, test) at the root, one sample path per line relative to the root
and without extension (e.g. `samples/4919798/p1-s0`). GrandStaff-LMX uses the same indexes over
`<composer>/<collection>/<piece>/<sample>` paths, with `.jpg` images.
"""
import hashlib
import re
from collections import defaultdict
from pathlib import Path, PurePosixPath

from datasets import Dataset, DatasetDict

from training.data.schema import FEATURES, SPLITS
from training.data.system_rows import schema_row

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
HELD_OUT_PERCENT = {"test": 5, "dev": 5}  # per piece, when the folder has no split indexes


def is_olimpic_folder(root: Path) -> bool:
    return (root / "samples").is_dir() or any(_index_path(root, split).is_file() for split in SPLITS)


def load_olimpic_folder(root: str | Path, source: str = "olimpic") -> DatasetDict:
    """One split per `samples.<split>.txt` index; without indexes, samples/*/* split by piece."""
    root = Path(root)
    stems_by_split = _indexed_stems(root)
    if stems_by_split is None:
        stems_by_split = _split_by_piece(_found_stems(root))
    all_stems = [stem for stems in stems_by_split.values() for stem in stems]
    positions = _system_positions(all_stems)
    return DatasetDict(
        {
            split: _build(root, [_record(root, stem, positions[stem]) for stem in stems], source)
            for split, stems in stems_by_split.items()
        }
    )


def _index_path(root: Path, split: str) -> Path:
    return root / f"samples.{split}.txt"


def _indexed_stems(root: Path) -> dict[str, list[str]] | None:
    """Sample stems per split as the indexes list them (empty splits left out); None without indexes."""
    indexes = [split for split in SPLITS if _index_path(root, split).is_file()]
    if not indexes:
        return None
    stems_by_split = {}
    for split in indexes:
        lines = _index_path(root, split).read_text(encoding="utf-8").splitlines()
        stems = [_strip_suffix(line.strip()) for line in lines if line.strip()]
        if stems:
            stems_by_split[split] = stems
    if not stems_by_split:
        raise ValueError(f"{root}: the samples.<split>.txt indexes list no samples")
    return stems_by_split


def _strip_suffix(stem: str) -> str:
    path = PurePosixPath(stem)
    return str(path.with_suffix("")) if path.suffix in IMAGE_SUFFIXES + (".lmx", ".musicxml") else stem


def _found_stems(root: Path) -> list[str]:
    samples = root / "samples"
    if not samples.is_dir():
        raise FileNotFoundError(f"{root}: no samples/ folder and no samples.<split>.txt index")
    images = [path for path in samples.glob("*/*") if path.suffix in IMAGE_SUFFIXES]
    if not images:
        raise ValueError(f"{samples}: no images ({', '.join(IMAGE_SUFFIXES)}) in samples/<piece>/")
    return sorted(path.relative_to(root).with_suffix("").as_posix() for path in images)


def piece_of(stem: str) -> str:
    """`samples/4919798/p1-s0` -> `4919798`; `chopin/mazurkas/mazurka41-2/original_m-66-71` -> its folder."""
    parts = PurePosixPath(stem).parts
    if parts[0] == "samples":
        parts = parts[1:]
    return "/".join(parts[:-1]) or parts[-1]


def _split_by_piece(stems: list[str]) -> dict[str, list[str]]:
    """A stable split by a hash of the piece id, so every system of a piece lands in the same split."""
    stems_by_split = defaultdict(list)
    for stem in stems:
        bucket = int(hashlib.sha256(piece_of(stem).encode()).hexdigest(), 16) % 100
        split = "train"
        if bucket < HELD_OUT_PERCENT["test"]:
            split = "test"
        elif bucket < HELD_OUT_PERCENT["test"] + HELD_OUT_PERCENT["dev"]:
            split = "dev"
        stems_by_split[split].append(stem)
    return dict(stems_by_split)


def _natural_key(text: str) -> list:
    """p2-s10 after p2-s9, original_m-20-25 after original_m-5-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _system_positions(stems: list[str]) -> dict[str, int]:
    by_piece = defaultdict(list)
    for stem in stems:
        by_piece[piece_of(stem)].append(stem)
    return {
        stem: position
        for piece_stems in by_piece.values()
        for position, stem in enumerate(sorted(piece_stems, key=_natural_key))
    }


def _record(root: Path, stem: str, system_index: int) -> dict:
    """Where one sample's files are; raises on a missing image or LMX (a .musicxml is optional)."""
    base = root / stem
    images = [base.with_name(base.name + suffix) for suffix in IMAGE_SUFFIXES]
    image = next((path for path in images if path.is_file()), None)
    lmx = base.with_name(base.name + ".lmx")
    musicxml = base.with_name(base.name + ".musicxml")
    if image is None:
        raise FileNotFoundError(f"{root}: sample {stem} has no image ({', '.join(IMAGE_SUFFIXES)})")
    if not lmx.is_file():
        raise FileNotFoundError(f"{root}: sample {stem} has no .lmx file")
    return {
        "image": image,
        "lmx": lmx,
        "musicxml": musicxml if musicxml.is_file() else None,
        "piece_id": piece_of(stem),
        "system_index": system_index,
    }


def _build(root: Path, records: list[dict], source: str) -> Dataset:
    return Dataset.from_generator(
        _rows,
        features=FEATURES,
        gen_kwargs={"records": records, "source": source},
        fingerprint=_fingerprint(root, records, source),
    )


def _rows(records: list[dict], source: str):
    for record in records:
        musicxml = record["musicxml"]
        yield schema_row(
            record["image"].read_bytes(),
            record["lmx"].read_text(encoding="utf-8"),
            source=source,
            piece_id=record["piece_id"],
            system_index=record["system_index"],
            musicxml=musicxml.read_text(encoding="utf-8") if musicxml else "",
        )


def _fingerprint(root: Path, records: list[dict], source: str) -> str:
    """Tied to the files' names, sizes and times: `from_generator` would otherwise reuse a stale cache."""
    digest = hashlib.sha256(f"{root.resolve()}|{source}".encode())
    for record in records:
        for key in ("image", "lmx", "musicxml"):
            path = record[key]
            if path is not None:
                stat = path.stat()
                digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}|".encode())
        digest.update(f"{record['system_index']}".encode())
    return digest.hexdigest()
