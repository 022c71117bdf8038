"""Build a system dataset: work units rendered in parallel into parquet shards, split by split.

Layout of the output folder (a Hugging Face dataset: `datasets.load_dataset(DIR)`):
  build.json                 the build's settings; a resumed build must match them
  data/<split>-<shard>.parquet   the systems of one shard of work units
  manifest/<split>-<shard>.json  written after its parquet file: the shard is done
  failures.jsonl, README.md  written at the end

A shard's content depends only on (settings, split, shard index), so shards may finish in any order
and an interrupted build resumes by skipping the shards that have a manifest. Train and dev take shards
in order until they hold the requested number of systems; the last one is cut to size.
"""
import json
import logging
import math
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import MISSING, asdict, dataclass, field, fields
from multiprocessing import get_context
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from acai_hf.atomic_write import write_atomically
from training.data import pipeline, plan
from training.data.schema import FEATURES, SPLITS

log = logging.getLogger(__name__)
STALL_SHARDS = 25  # this many shards in a row without a system means the sources are broken
CRASH_RETRIES = 2  # a shard whose worker dies this many times is recorded as failed


@dataclass(frozen=True)
class BuildConfig:
    systems: int  # train + dev systems; the test split is every reserved piece once
    seed: int = 0
    mix: dict = field(default_factory=lambda: dict(plan.DEFAULT_MIX))
    dev_fraction: float = 0.05
    units_per_shard: int = 4
    test_pieces: int | None = None  # None: every reserved piece
    transpose: float = 0.0  # share of train corpus excerpts moved to another key

    def __post_init__(self):
        if not 0.0 <= self.transpose <= 1.0:
            raise ValueError(f"--transpose is a share of the corpus excerpts, from 0 to 1, not {self.transpose}")

    def target(self, split: str) -> int | None:
        dev = round(self.systems * self.dev_fraction)
        return {"train": self.systems - dev, "dev": dev}.get(split)

    def units(self, split: str, shard: int) -> list[plan.Unit]:
        first = shard * self.units_per_shard
        if split == "test":
            return plan.test_units(self.seed, self.test_pieces)[first : first + self.units_per_shard]
        indices = range(first, first + self.units_per_shard)
        return [plan.plan_unit(self.seed, self.mix, split, index, self.transpose) for index in indices]

    def test_shards(self) -> int:
        return math.ceil(len(plan.test_units(self.seed, self.test_pieces)) / self.units_per_shard)


def shard_name(split: str, shard: int) -> str:
    return f"{split}-{shard:05d}"


def write_rows(path: Path, rows: list[dict]):
    table = pa.Table.from_pylist(rows, schema=FEATURES.arrow_schema)  # keeps the datasets features
    write_atomically(path, lambda p: pq.write_table(table, p))


def write_manifest(out: Path, manifest: dict):
    path = out / "manifest" / f"{shard_name(manifest['split'], manifest['shard'])}.json"
    write_atomically(path, lambda p: p.write_text(json.dumps(manifest, indent=1)))


def make_shard(out: Path, config: BuildConfig, split: str, shard: int) -> dict:
    """Render one shard's units; write its systems, then its manifest. Never raises for a bad piece."""
    rows, failures = [], []
    for unit in config.units(split, shard):
        piece = {"piece_id": unit.piece_id, "source": unit.source}
        try:
            musicxml = plan.unit_musicxml(unit)
            unit_rows, drops = pipeline.piece_systems(musicxml, seed=unit.seed, **piece)
        except Exception as error:  # a piece that fails must not stop the build
            failures.append(piece | {"error": f"{type(error).__name__}: {error}"})
            continue
        rows += unit_rows
        failures += [piece | {"error": drop} for drop in drops]
    if rows:
        write_rows(out / "data" / f"{shard_name(split, shard)}.parquet", rows)
    manifest = {"split": split, "shard": shard, "systems": len(rows), "kept": len(rows), "failures": failures}
    write_manifest(out, manifest)
    return manifest


def read_manifests(out: Path, split: str) -> dict[int, dict]:
    manifests = {}
    for path in (out / "manifest").glob(f"{split}-*.json"):
        manifest = json.loads(path.read_text())
        manifests[manifest["shard"]] = manifest
    return manifests


class InlineExecutor:
    """Runs work in this process (one worker): simpler to debug, and no start-up cost."""

    def submit(self, function, *args) -> Future:
        future = Future()
        try:
            future.set_result(function(*args))
        except Exception as error:
            future.set_exception(error)
        return future

    def shutdown(self, **_):
        pass


def new_executor(workers: int):
    if workers <= 1:
        return InlineExecutor()
    context = get_context("spawn")  # a fresh interpreter: no copied Verovio state or threads
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_exit_with, initargs=(os.getpid(),))


def _exit_with(parent: int):
    """Workers leave when the build process is killed outright, instead of idling on as orphans."""

    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def check_settings(out: Path, config: BuildConfig):
    """A resumed build must use the settings its shards were made with."""
    path = out / "build.json"
    settings = asdict(config)
    if path.exists():
        # settings added since a build was made take their default (what that build did)
        previous = {f.name: f.default for f in fields(BuildConfig) if f.default is not MISSING}
        previous |= json.loads(path.read_text())
        if previous != settings:
            raise SystemExit(f"{out} holds a build with other settings: {previous}; use another --out")
    else:
        write_atomically(path, lambda p: p.write_text(json.dumps(settings, indent=1)))


def build(out: Path, config: BuildConfig, workers: int = 2) -> dict[str, int]:
    """Make (or finish) the dataset in `out`; returns the number of systems per split."""
    out = Path(out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / "manifest").mkdir(exist_ok=True)
    check_settings(out, config)
    executor = new_executor(workers)
    try:
        for split in SPLITS:
            executor = run_split(out, config, split, executor, workers)
        executor.shutdown()  # let idle workers exit (an interrupt below leaves them to their watchdog)
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    counts = {split: sum(m["kept"] for m in read_manifests(out, split).values()) for split in SPLITS}
    write_failures(out)
    write_readme(out)
    return counts


def run_split(out: Path, config: BuildConfig, split: str, executor, workers: int):
    """Make the split's shards (finishing in any order) until the first ones hold its target."""
    target = config.target(split)
    done = read_manifests(out, split)
    retry, crashes, empty_in_a_row, next_shard, in_flight = [], {}, 0, 0, {}

    def next_to_submit() -> int | None:
        nonlocal next_shard
        if retry:
            return retry.pop()
        made = sum(m["kept"] for m in done.values())
        while next_shard in done:
            next_shard += 1
        if target is None:
            wanted = next_shard < config.test_shards()
        else:
            wanted = made < target or next_shard < max(done, default=-1)  # grow, or fill a gap
        if not wanted:
            return None
        next_shard += 1
        return next_shard - 1

    progress = tqdm(total=target, desc=split, unit="sys", initial=sum(m["kept"] for m in done.values()))
    while True:
        while len(in_flight) < workers and (shard := next_to_submit()) is not None:
            in_flight[executor.submit(make_shard, out, config, split, shard)] = (shard, executor)
        if not in_flight:
            break
        for future in wait(in_flight, return_when=FIRST_COMPLETED).done:
            shard, its_executor = in_flight.pop(future)
            try:
                manifest = future.result()
            except BrokenProcessPool:  # a worker died (e.g. in native code): retry on a new pool
                if its_executor is executor:
                    executor = _restart(executor, workers)
                crashes[shard] = crashes.get(shard, 0) + 1
                if crashes[shard] <= CRASH_RETRIES:
                    retry.append(shard)
                    continue
                failure = {"piece_id": "", "source": "", "error": "worker crashed"}
                manifest = {"split": split, "shard": shard, "systems": 0, "kept": 0, "failures": [failure]}
                write_manifest(out, manifest)
            done[shard] = manifest
            progress.update(manifest["kept"])
            _log_failures(manifest)
            empty_in_a_row = 0 if manifest["kept"] else empty_in_a_row + 1
            if empty_in_a_row >= STALL_SHARDS:
                raise RuntimeError(f"{STALL_SHARDS} {split} shards in a row made no system; see {out}/manifest")
    progress.close()
    if target is not None:
        cut_to_target(out, split, done, target)
    return executor


def _restart(executor, workers: int):
    executor.shutdown(wait=False, cancel_futures=True)
    return new_executor(workers)


def _log_failures(manifest: dict):
    for failure in manifest["failures"]:
        if not failure["error"].startswith("system "):  # whole pieces; dropped systems are only counted
            log.warning("skipped %s (%s): %s", failure["piece_id"], failure["source"], failure["error"][:300])


def cut_to_target(out: Path, split: str, done: dict[int, dict], target: int):
    """Keep the first shards up to `target` systems: cut the last one, delete those after it."""
    kept = 0
    for shard in sorted(done):
        manifest = done[shard]
        data = out / "data" / f"{shard_name(split, shard)}.parquet"
        if kept >= target:
            data.unlink(missing_ok=True)
            (out / "manifest" / f"{shard_name(split, shard)}.json").unlink()
            continue
        if manifest["kept"] > target - kept:
            manifest["kept"] = target - kept
            table = pq.read_table(data).slice(0, manifest["kept"])
            write_atomically(data, lambda p: pq.write_table(table, p))
            write_manifest(out, manifest)
        kept += manifest["kept"]


def write_failures(out: Path):
    with open(out / "failures.jsonl", "w", encoding="utf-8") as file:
        for split in SPLITS:
            for shard, manifest in sorted(read_manifests(out, split).items()):
                for failure in manifest["failures"]:
                    file.write(json.dumps({"split": split, "shard": shard, **failure}) + "\n")


def write_readme(out: Path):
    """The dataset card's YAML maps our split names (dev is not a name `datasets` would guess)."""
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split in SPLITS:
        if any((out / "data").glob(f"{split}-*.parquet")):
            lines += [f"  - split: {split}", f"    path: data/{split}-*.parquet"]
    lines += ["---", "", "Grand-staff systems made by `python -m training.data build` (see build.json).", ""]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
