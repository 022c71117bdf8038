"""Outside data in our system schema (FEATURES), for fine-tuning: one entry point that accepts
a folder in the OLiMPiC / GrandStaff-LMX layout, our engine's output, or any Hugging Face data set."""
from pathlib import Path

from datasets import Dataset, DatasetDict, Image, Value, load_dataset, load_from_disk

from training.data.olimpic_folder import is_olimpic_folder, load_olimpic_folder
from training.data.schema import FEATURES, SPLITS
from training.data.system_rows import schema_row

SPLIT_ALIASES = {"validation": "dev", "valid": "dev", "val": "dev"}
DEFAULT_SOURCE = "external"


def load_system_dataset(
    spec: str | Path | Dataset | DatasetDict,
    split: str | None = None,
    *,
    image_column: str = "image",
    lmx_column: str = "lmx",
    source: str | None = None,
) -> DatasetDict | Dataset:
    """A DatasetDict in our schema, or one of its splits when `split` is given.

    `spec` may be: a Dataset / DatasetDict; a folder in the OLiMPiC / GrandStaff-LMX layout
    (source "olimpic" unless given); our engine's output (`<split>/*.parquet`); a `save_to_disk`
    folder; any other local folder or Hub name that `datasets.load_dataset` reads. For Hugging Face
    data, `image_column` and `lmx_column` name the input columns; columns named like ours are kept,
    the others dropped, and missing ones filled with defaults (each row its own piece). A single
    Dataset becomes the "train" split; "validation" is renamed "dev". Images become grayscale.
    """
    if isinstance(spec, (Dataset, DatasetDict)):
        dataset = conform(spec, image_column, lmx_column, source)
    else:
        dataset = _load_location(spec, image_column, lmx_column, source)
    if split is None:
        return dataset
    if split not in dataset:
        raise KeyError(f"split {split!r} not found; the data set has {sorted(dataset)}")
    return dataset[split]


def _load_location(spec, image_column, lmx_column, source) -> DatasetDict:
    path = Path(spec).expanduser()
    if path.is_dir():
        return _load_folder(path, image_column, lmx_column, source)
    if path.exists():
        raise NotADirectoryError(f"{path}: expected a data set folder, not a file")
    if isinstance(spec, Path) or str(spec).startswith((".", "/", "~")):
        raise FileNotFoundError(f"{path}: no such folder")
    # Anything else is a Hub name; offline this fails inside `datasets` with its own message.
    return conform(load_dataset(str(spec)), image_column, lmx_column, source)


def _load_folder(path: Path, image_column, lmx_column, source) -> DatasetDict:
    if is_olimpic_folder(path):
        return load_olimpic_folder(path, source=source or "olimpic")
    shards = {
        split: sorted(str(shard) for shard in (path / split).glob("*.parquet")) for split in SPLITS
    }
    shards = {split: files for split, files in shards.items() if files}
    if shards:
        engine_output = load_dataset("parquet", data_files=shards)
        if source is None and all(part.features == FEATURES for part in engine_output.values()):
            return engine_output  # written by our engine: already in the schema, grayscale
        return conform(engine_output, "image", "lmx", source)
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        return conform(load_from_disk(str(path)), image_column, lmx_column, source)
    try:
        found = load_dataset(str(path))
    except FileNotFoundError as error:
        raise ValueError(
            f"{path}: not a system data set (expected samples/<piece>/*.png with .lmx, "
            f"<split>/*.parquet, a save_to_disk folder, or files `datasets.load_dataset` reads)"
        ) from error
    if source is None and image_column == "image" and all(part.features == FEATURES for part in found.values()):
        return found  # our engine's output (data/<split>-*.parquet, splits named in its README)
    return conform(found, image_column, lmx_column, source)


def conform(
    dataset: Dataset | DatasetDict, image_column: str, lmx_column: str, source: str | None
) -> DatasetDict:
    """Every split brought to FEATURES (see `load_system_dataset`)."""
    if isinstance(dataset, Dataset):
        dataset = DatasetDict({"train": dataset})
    conformed = {}
    for name, part in dataset.items():
        split = SPLIT_ALIASES.get(name, name)
        conformed[split] = _conform_split(part, split, image_column, lmx_column, source)
    return DatasetDict(conformed)


def _conform_split(dataset: Dataset, split: str, image_column, lmx_column, source) -> Dataset:
    missing = [column for column in (image_column, lmx_column) if column not in dataset.column_names]
    if missing:
        raise ValueError(f"column(s) {missing} not found; the data set has {dataset.column_names}")
    feature = dataset.features[image_column]
    if not _holds_images(feature):
        raise ValueError(f"column {image_column!r} does not hold images ({feature})")
    # Undecoded images keep their encoded bytes, which are reused as they are when grayscale.
    dataset = dataset.cast_column(image_column, Image(decode=False))
    return dataset.map(
        _conform_batch,
        batched=True,
        with_indices=True,
        remove_columns=dataset.column_names,
        features=FEATURES,
        fn_kwargs={
            "split": split,
            "image_column": image_column,
            "lmx_column": lmx_column,
            "source": source,
        },
        desc="conforming to the system schema",
    )


def _holds_images(feature) -> bool:
    """Image features, and what `datasets` can cast to one: file paths, encoded bytes, {bytes, path}."""
    if isinstance(feature, Image):
        return True
    if isinstance(feature, Value):
        return feature.dtype in ("string", "large_string", "binary", "large_binary")
    return isinstance(feature, dict) and set(feature) == {"bytes", "path"}


def _conform_batch(
    batch: dict, indices: list[int], split: str, image_column, lmx_column, source
) -> dict:
    def kept(name: str, position: int):
        if name in (image_column, lmx_column) or name not in batch:
            return None
        return batch[name][position]

    rows = []
    for position, index in enumerate(indices):
        image = batch[image_column][position]
        if image is None:
            raise ValueError(f"{split} row {index}: no image in column {image_column!r}")
        image_bytes = image["bytes"] or Path(image["path"]).read_bytes()
        system_index = kept("system_index", position)
        rows.append(
            schema_row(
                image_bytes,
                batch[lmx_column][position],
                source=source or kept("source", position) or DEFAULT_SOURCE,
                piece_id=kept("piece_id", position) or f"{split}-{index}",
                system_index=0 if system_index is None else system_index,
                musicxml=kept("musicxml", position),
                n_measures=kept("n_measures", position),
                engraving=kept("engraving", position),
                token_boxes=kept("token_boxes", position),
                token_glyph_boxes=kept("token_glyph_boxes", position),
                staff_lines=kept("staff_lines", position),
            )
        )
    return {name: [row[name] for row in rows] for name in FEATURES}
