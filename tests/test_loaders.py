"""Loaders of outside data: every route ends in our schema, with grayscale images and clear errors."""
import json

import numpy as np
import pytest
from datasets import Dataset, DatasetDict, Image, load_dataset
from PIL import Image as PILImage

from training.data.loaders import load_system_dataset
from training.data.schema import FEATURES
from training.data.system_rows import lmx_text, measure_count


def _png(path, mode="L"):
    """A tiny system-like image; RGBA ones have a transparent background, as renderers leave it."""
    pixels = np.full((24, 40), 255, dtype=np.uint8)
    pixels[8:16:2, 2:38] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "RGBA":
        alpha = np.where(pixels == 0, 255, 0).astype(np.uint8)
        black = np.zeros_like(pixels)
        PILImage.fromarray(np.dstack([black, black, black, alpha])).save(path)
    else:
        PILImage.fromarray(pixels).convert(mode).save(path)


def _mkdir(path):
    path.mkdir(parents=True)
    return path


def _write_sample(root, stem, gold, with_musicxml=True, mode="L"):
    musicxml, lmx = gold
    base = root / stem
    _png(base.with_name(base.name + ".png"), mode)
    base.with_name(base.name + ".lmx").write_text(lmx + "\n", encoding="utf-8")
    if with_musicxml:
        base.with_name(base.name + ".musicxml").write_text(musicxml, encoding="utf-8")


@pytest.fixture
def olimpic_root(tmp_path, gold_systems):
    """Two pieces: 101 (three systems, indexed as train) and 202 (one system, dev)."""
    root = tmp_path / "olimpic"
    stems = {
        "samples/101/p10-s0": gold_systems[0],
        "samples/101/p2-s0": gold_systems[1],
        "samples/101/p1-s1": gold_systems[2],
        "samples/202/p1-s0": gold_systems[3],
    }
    for stem, gold in stems.items():
        _write_sample(root, stem, gold, with_musicxml=stem != "samples/101/p2-s0", mode="RGBA")
    (root / "samples.train.txt").write_text("samples/101/p10-s0\nsamples/101/p2-s0\nsamples/101/p1-s1\n")
    (root / "samples.dev.txt").write_text("samples/202/p1-s0\n")
    return root, stems


def test_olimpic_layout_follows_the_split_indexes(olimpic_root):
    root, stems = olimpic_root
    dataset = load_system_dataset(root)
    assert isinstance(dataset, DatasetDict)
    assert sorted(dataset) == ["dev", "train"]
    train = dataset["train"]
    assert train.features == FEATURES
    rows = {row["system_index"]: row for row in train}
    assert sorted(rows) == [0, 1, 2]  # p1-s1, p2-s0, p10-s0 in reading order
    first, second, third = rows[0], rows[1], rows[2]
    assert first["lmx"] == lmx_text(stems["samples/101/p1-s1"][1])
    assert third["musicxml"] == stems["samples/101/p10-s0"][0]
    assert second["musicxml"] == ""  # this sample has no .musicxml
    assert {row["piece_id"] for row in train} == {"101"}
    assert {row["source"] for row in train} == {"olimpic"}
    assert first["n_measures"] == measure_count(first["lmx"]) > 0
    assert first["engraving"] == "{}"
    assert first["token_boxes"] is None and first["staff_lines"] is None  # no engraver geometry
    assert dataset["dev"][0]["piece_id"] == "202"


def test_olimpic_images_are_grayscale_on_white(olimpic_root):
    root, _ = olimpic_root
    image = load_system_dataset(root, "dev")[0]["image"]
    assert image.mode == "L"
    pixels = np.asarray(image)
    assert pixels[0, 0] == 255  # the transparent background became paper, not black
    assert pixels[8, 10] == 0


def test_olimpic_without_indexes_splits_by_piece(olimpic_root):
    root, stems = olimpic_root
    for index in root.glob("samples.*.txt"):
        index.unlink()
    first = load_system_dataset(root)
    second = load_system_dataset(root, source="scanned")
    pieces_by_split = {split: set(part["piece_id"]) for split, part in first.items()}
    assert sum(len(part) for part in first.values()) == len(stems)
    assert sum(len(pieces) for pieces in pieces_by_split.values()) == 2  # no piece in two splits
    assert {split: part["lmx"] for split, part in first.items()} == {
        split: part["lmx"] for split, part in second.items()
    }
    assert {row["source"] for part in second.values() for row in part} == {"scanned"}


def test_olimpic_reload_sees_changed_files(olimpic_root):
    root, _ = olimpic_root
    assert load_system_dataset(root, "dev")[0]["lmx"] != "measure"
    (root / "samples/202/p1-s0.lmx").write_text("measure\n", encoding="utf-8")
    assert load_system_dataset(root, "dev")[0]["lmx"] == "measure"


def test_olimpic_errors(olimpic_root, tmp_path):
    root, _ = olimpic_root
    (root / "samples/202/p1-s0.lmx").unlink()
    with pytest.raises(FileNotFoundError, match="p1-s0 has no .lmx"):
        load_system_dataset(root)
    empty = tmp_path / "empty"
    (empty / "samples").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images"):
        load_system_dataset(empty)
    (empty / "samples.train.txt").write_text("\n")
    with pytest.raises(ValueError, match="list no samples"):
        load_system_dataset(empty)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_system_dataset(tmp_path / "missing")
    with pytest.raises(NotADirectoryError):
        load_system_dataset(root / "samples.train.txt")


def _outside_dataset(gold_systems, count=3):
    images = []
    for index in range(count):
        image = PILImage.new("RGB", (30 + index, 20), (255, 255, 255))
        image.putpixel((5, 5), (10, 200, 10))
        images.append(image)
    return Dataset.from_dict(
        {
            "picture": images,
            "tokens": [lmx.split() for _, lmx in gold_systems[:count]],
            "piece_id": ["a", "a", "b"][:count],
            "extra": list(range(count)),
        }
    ).cast_column("picture", Image())


def test_hugging_face_dataset_is_conformed(gold_systems):
    outside = _outside_dataset(gold_systems)
    train = load_system_dataset(outside, "train", image_column="picture", lmx_column="tokens")
    assert train.features == FEATURES
    row = train[2]
    assert row["image"].mode == "L" and row["image"].size == (32, 20)
    assert row["lmx"] == lmx_text(gold_systems[2][1])
    assert row["n_measures"] == measure_count(row["lmx"])
    assert (row["piece_id"], row["source"], row["musicxml"], row["engraving"]) == (
        "b",
        "external",
        "",
        "{}",
    )
    assert row["system_index"] == 0
    assert (row["token_boxes"], row["token_glyph_boxes"], row["staff_lines"]) == (None, None, None)


def test_hugging_face_errors(gold_systems):
    outside = _outside_dataset(gold_systems)
    with pytest.raises(ValueError, match="'lmx'.*not found"):
        load_system_dataset(outside, image_column="picture")
    with pytest.raises(ValueError, match="does not hold images"):
        load_system_dataset(outside, image_column="extra", lmx_column="tokens")
    with pytest.raises(KeyError, match="'test' not found"):
        load_system_dataset(outside, "test", image_column="picture", lmx_column="tokens")


def test_saved_dataset_dict_renames_validation(tmp_path, gold_systems):
    outside = _outside_dataset(gold_systems, count=2)
    DatasetDict({"train": outside, "validation": outside}).save_to_disk(tmp_path / "saved")
    dataset = load_system_dataset(
        str(tmp_path / "saved"), image_column="picture", lmx_column="tokens", source="mine"
    )
    assert sorted(dataset) == ["dev", "train"]
    assert dataset["dev"].features == FEATURES
    assert set(dataset["dev"]["source"]) == {"mine"}


def test_local_image_folder_through_load_dataset(tmp_path, gold_systems):
    folder = tmp_path / "imagefolder"
    with open(_mkdir(folder) / "metadata.jsonl", "w", encoding="utf-8") as metadata:
        for index, (_, lmx) in enumerate(gold_systems[:2]):
            _png(folder / f"{index}.png", mode="RGB")
            metadata.write(json.dumps({"file_name": f"{index}.png", "lmx": lmx}) + "\n")
    train = load_system_dataset(folder, "train")
    assert train.features == FEATURES
    assert len(train) == 2 and train[0]["image"].mode == "L"


def test_engine_output_loads_as_is(tmp_path, gold_systems):
    rows = {name: [] for name in FEATURES}
    for index, (musicxml, lmx) in enumerate(gold_systems[:2]):
        _png(tmp_path / f"{index}.png")
        values = {
            "image": str(tmp_path / f"{index}.png"),
            "lmx": lmx,
            "musicxml": musicxml,
            "source": "procedural",
            "piece_id": f"piece-{index}",
            "system_index": index,
            "n_measures": measure_count(lmx),
            "engraving": '{"font": "Leipzig"}',
            "token_boxes": [[1.0, 2.0, 3.0, 4.0]] + [None] * (len(lmx.split()) - 1),
            "token_glyph_boxes": None,
            "staff_lines": [[10.0, 20.0, 30.0, 40.0, 50.0], [90.0, 100.0, 110.0, 120.0, 130.0]],
        }
        for name, value in values.items():
            rows[name].append(value)
    engine = Dataset.from_dict(rows, features=FEATURES)
    engine.to_parquet(str(_mkdir(tmp_path / "out" / "train") / "shard-00000.parquet"))
    engine.select([0]).to_parquet(str(_mkdir(tmp_path / "out" / "dev") / "shard-00000.parquet"))
    dataset = load_system_dataset(tmp_path / "out")
    assert sorted(dataset) == ["dev", "train"]
    assert dataset["train"].features == FEATURES
    assert dataset["train"][1]["engraving"] == '{"font": "Leipzig"}'
    assert dataset["train"][1]["piece_id"] == "piece-1"
    assert dataset["dev"][0]["lmx"] == lmx_text(gold_systems[0][1])
    assert dataset["train"][0]["token_boxes"][:2] == [[1.0, 2.0, 3.0, 4.0], None]
    assert dataset["train"][0]["token_glyph_boxes"] is None and len(dataset["train"][0]["staff_lines"]) == 2


def test_unrecognised_folders(tmp_path):
    with pytest.raises(ValueError, match="not a system data set"):
        load_system_dataset(_mkdir(tmp_path / "empty"))
    (_mkdir(tmp_path / "text") / "notes.txt").write_text("no images here\n")
    with pytest.raises(ValueError, match=r"\['image', 'lmx'\] not found"):
        load_system_dataset(tmp_path / "text")
