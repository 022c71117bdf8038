"""Export a run's model as one folder of few, small files (float16 safetensors shards), then prove it loads.

    python -m training.release.export_shards RUN --out DIR [--max-shard-size 15MB] [--max-files 8] [--max-file-mib 16]
                                     [--dataset DATA] [--tokens 8]

RUN is a run folder (its best/, else final/, else its latest checkpoint) or a model folder. The folder is
written by training.release.ship's write_shipped_folder (float16 weights, float32 config, processor and tokenizer
files), with the weights cut into shards plus their index and no metrics.json, so that the whole model
passes through a channel that takes only a few files of limited size (a GPU machine's output folder takes
8 files of 16 MiB). It is then loaded back through the Auto classes the app uses (`--model DIR`,
ACAI_OMR_MODEL) and made to write a few tokens on an image; a broken limit or a failed load exits non-zero.
"""
import argparse
import sys
from pathlib import Path

import torch

from training.run.checkpointing import latest_checkpoint

MIB = 2**20


def model_folder(path) -> Path:
    """The model to export from a run folder (best/, else final/, else its latest checkpoint) or a model folder."""
    path = Path(path)
    for candidate in (path / "best", path / "final"):
        if (candidate / "config.json").is_file():
            return candidate
    checkpoint = latest_checkpoint(path)
    if checkpoint is not None:
        return checkpoint
    if (path / "config.json").is_file():
        return path
    raise FileNotFoundError(f"{path}: no best/, final/, checkpoint or config.json to export")


def check_limits(folder, max_files: int, max_file_bytes: int) -> list[tuple[str, int]]:
    """(name, bytes) of every file under `folder`; ValueError when there are too many or one is too large."""
    files = sorted((str(f.relative_to(folder)), f.stat().st_size) for f in Path(folder).rglob("*") if f.is_file())
    too_large = [(name, size) for name, size in files if size > max_file_bytes]
    if len(files) > max_files or too_large:
        listing = ", ".join(f"{name} {size / MIB:.2f} MiB" for name, size in files)
        raise ValueError(f"{folder} holds {len(files)} files (limit {max_files}), "
                         f"{len(too_large)} over {max_file_bytes / MIB:g} MiB: {listing}")
    return files


def smoke_image(dataset=None):
    """A system image to generate on: the first dev (else train) row of `dataset`, or a blank system."""
    if dataset is None:
        from PIL import Image

        return Image.new("L", (480, 160), 255)
    from training.data.loaders import load_system_dataset

    data = load_system_dataset(dataset)
    return data["dev" if "dev" in data else "train"][0]["image"]


def generate_tokens(folder, image, tokens: int = 8) -> list[str]:
    """Loads `folder` as the app does and writes exactly `tokens` tokens (no early end) on `image`."""
    import acai_hf  # noqa: F401  (registers the Auto classes)
    from acai_hf.model.loading import load

    model, processor = load(str(folder))
    inputs = processor(images=[image])
    with torch.inference_mode():
        ids = model.generate(pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"],
                             max_new_tokens=tokens, min_new_tokens=tokens, max_length=None,
                             num_beams=1, do_sample=False)
    return processor.tokenizer.convert_ids_to_tokens(ids[0, -tokens:].tolist())


def export(source, out, max_shard_size="15MB", max_files: int = 8, max_file_mib: float = 16.0) -> list:
    """Writes `out` from `source` (see model_folder) and checks its limits; returns its (name, bytes)."""
    import acai_hf  # noqa: F401
    from acai_hf.model.loading import load
    from training.release.ship import write_shipped_folder

    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise ValueError(f"{out} holds other files than a model: not replacing it")  # e.g. a mistyped OUTPUT
    model, processor = load(str(model_folder(source)))
    write_shipped_folder(model.float(), processor, out, metrics=None, max_shard_size=max_shard_size)
    return check_limits(out, max_files, int(max_file_mib * MIB))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="run folder or model folder")
    parser.add_argument("--out", required=True, help="the folder to write (replaced if it exists)")
    parser.add_argument("--max-shard-size", default="15MB", help="save_pretrained's max_shard_size (10^6 bytes per MB)")
    parser.add_argument("--max-files", type=int, default=8)
    parser.add_argument("--max-file-mib", type=float, default=16.0)
    parser.add_argument("--dataset", default=None, help="take the check's image from here (else a blank system)")
    parser.add_argument("--tokens", type=int, default=8, help="tokens the loaded folder must write")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"exporting {model_folder(args.source)} to {args.out}")
    try:
        files = export(args.source, args.out, args.max_shard_size, args.max_files, args.max_file_mib)
    except ValueError as error:
        print(f"EXPORT FAILED: {error}", file=sys.stderr)
        return 1
    for name, size in files:
        print(f"  {name:40s} {size / MIB:8.2f} MiB")
    tokens = generate_tokens(args.out, smoke_image(args.dataset), args.tokens)
    print(f"{len(files)} files (limit {args.max_files}, each <= {args.max_file_mib:g} MiB); "
          f"loaded back, first tokens: {' '.join(tokens)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
