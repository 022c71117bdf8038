"""A training mix: several engine builds' train shards with one build's dev and test, as a folder of symlinks.

Runs train on the union of builds while dev and test stay one build's, so that dev figures stay comparable
from run to run (the loader reads a mix's `<split>/*.parquet` like any engine output). The shards are linked,
not copied: a mix costs no disk, and its builds must stay where they are.
"""
import json
from pathlib import Path

EVALUATION_SPLITS = ("dev", "test")


def make_mix(out: Path, builds: list[Path], evaluation: Path) -> dict[str, int]:
    """Links every build's train shards and `evaluation`'s dev and test shards into out/<split>/.

    Shards are named `<build folder>-<shard>`. Returns the shards linked per split.
    """
    out = Path(out).expanduser()
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: not empty; a mix is made once, into a new folder")
    links = {"train": [link for build in builds for link in _links(build, "train")],
             **{split: _links(evaluation, split) for split in EVALUATION_SPLITS}}
    names = [name for name, _ in links["train"]]
    if len(set(names)) != len(names):
        raise ValueError("two builds share a folder name; their shards would collide in the mix")

    for split, shards in links.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        for name, shard in shards:
            (folder / name).symlink_to(shard.resolve())
    # mix.json for the model card, README.md for people, as a build writes build.json and README.md
    recorded = {"train": [str(Path(build).expanduser().resolve()) for build in builds],
                "eval_from": str(Path(evaluation).expanduser().resolve())}
    (out / "mix.json").write_text(json.dumps(recorded, indent=1))
    lines = [f"# {out.name}", "", "A training mix (`python -m training.data mix`): symlinks, not copies.", "",
             *[f"- train: `{build}`" for build in recorded["train"]], f"- dev and test: `{recorded['eval_from']}`", ""]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
    return {split: len(shards) for split, shards in links.items()}


def _links(build: Path, split: str) -> list[tuple[str, Path]]:
    """(name in the mix, shard) for a build's shards of `split`: the build's folder name keeps shards of the
    same name apart."""
    build = Path(build).expanduser()
    if not (build / "data").is_dir():
        raise FileNotFoundError(f"{build}: not an engine build (no data/ folder)")
    shards = sorted((build / "data").glob(f"{split}-*.parquet"))
    if not shards:
        raise FileNotFoundError(f"{build}: no {split} shards in data/")
    return [(f"{build.name}-{shard.name}", shard) for shard in shards]
