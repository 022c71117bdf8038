"""Command line for batch work: python -m acai_hf transcribe PAGE_OR_PDF... -o OUT_DIR

Every input (an image, a PDF, or a folder of them) becomes OUT_DIR/<name>.musicxml, .mid and .lmx
(the LMX of one system per paragraph): its pages are loaded as the app loads them, their systems are
found, cropped and transcribed in batches, as the app does (acai_hf/transcription.py). A bad input
(also a pipe or a device: only regular files are read) is reported and skipped; a system whose music
cannot be joined or played is left out of the score with a warning, and a system whose key stands
alone between two that agree is named in a warning (acai_hf/music/key_check.py); the exit status is
1 when any input failed, 2 when nothing could start (no model, bad options, -o naming a file).

Under `accelerate launch -m acai_hf transcribe ...` each process takes its share of the inputs (and
its own GPU). Output names are fixed before the inputs are shared out, so they never collide.
"""
import argparse
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from acai_hf.atomic_write import write_atomically
from acai_hf.model.loading import MODEL_ENV, ModelNotFound, load, resolve_model
from acai_hf.music.key_check import lone_key_warning, lone_keys
from acai_hf.page.page_input import PageInputError, load_pages_from_path
from acai_hf.transcription import transcribe_pages

INPUT_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".pdf"}
MAX_STEM = 100
WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


class CliError(Exception):
    """Nothing can start: say why and exit with status 2."""


@dataclass
class Job:
    path: Path
    name: str  # the safe stem of the outputs


@dataclass
class Outcome:
    job: Job
    error: str | None = None
    systems: int = 0
    measures: int = 0
    files: list = field(default_factory=list)
    left_out: dict = field(default_factory=dict)  # system index (0-based) -> why it is not in the score
    page_errors: dict = field(default_factory=dict)  # page number -> why no systems were found on it
    lone_keys: list = field(default_factory=list)  # key_check.LoneKey: systems whose key stands alone


def safe_stem(filename: str) -> str:
    """A file name stem that is safe on every file system and in a shell: ASCII letters, digits,
    '.', '_' and '-', not starting with '.' or '-', at most MAX_STEM characters."""
    stem = Path(filename.replace("\\", "/")).stem if filename else ""
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)
    stem = re.sub(r"_+", "_", stem).strip("._-")[:MAX_STEM].rstrip("._-")
    if not stem:
        stem = "score"
    if stem.lower().split(".")[0] in WINDOWS_RESERVED:
        stem = f"score_{stem}"
    return stem


def plan_jobs(paths) -> list[Job]:
    """Inputs in order (a folder gives its images and PDFs, sorted), each with a unique safe name."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
        else:
            files.append(path)
    jobs, taken = [], set()
    for path in files:
        base = safe_stem(path.name)
        name, number = base, 1
        while name.lower() in taken:
            number += 1
            name = f"{base}-{number}"
        taken.add(name.lower())
        jobs.append(Job(path, name))
    return jobs


def model_to_load(model: str | None) -> str:
    """--model, else $ACAI_OMR_MODEL, else the shipped checkpoint; CliError when there is none."""
    try:
        return resolve_model(model)
    except ModelNotFound as error:
        raise CliError(f"No model to transcribe with: {error}. Pass --model DIR (a folder saved by save_pretrained, "
                       f"with config.json) or set {MODEL_ENV}.") from error


def load_model(model: str, device, int8=False):
    if int8 and device.type != "cpu":
        raise CliError(f"--int8 runs on the CPU only; this process decodes on {device}.")
    try:
        model, processor = load(model, int8=int8)
    except (OSError, ValueError) as error:
        raise CliError(f"--model {model}: cannot load the model ({error}).") from error
    return model.to(device), processor


def transcribe_job(job: Job, out: Path, model, processor, args, progress) -> Outcome:
    """One input through the pipeline; its three files written atomically. A page problem is the outcome's error."""
    counted = progress.total or 0  # the systems of the inputs before this one
    done = 0

    def advance(systems_done, systems):
        nonlocal done
        if systems_done == 0:
            progress.total = counted + systems
            progress.refresh()
        progress.update(systems_done - done)
        done = systems_done

    kwargs = {"max_new_tokens": args.max_new_tokens} if args.max_new_tokens is not None else {}
    try:
        pages = load_pages_from_path(job.path, args.pages)
        score, _, found = transcribe_pages(pages, model, processor, progress=advance, num_beams=args.beams,
                                           constrained=args.constrained, batch_size=args.batch_size, **kwargs)
    except PageInputError as error:
        return Outcome(job, error=str(error))
    files = {
        out / f"{job.name}.lmx": ("\n\n".join(score.systems) + "\n").encode("utf-8"),
        out / f"{job.name}.musicxml": score.musicxml.encode("utf-8"),
        out / f"{job.name}.mid": score.midi,
    }
    for path, data in files.items():
        write_atomically(path, lambda temporary, data=data: temporary.write_bytes(data))
    page_errors = {number: page.error for number, page in enumerate(found, start=1) if page.error}
    return Outcome(job, systems=len(score.systems), measures=sum(score.measure_counts), files=list(files),
                   left_out=score.left_out, page_errors=page_errors, lone_keys=lone_keys(score.systems))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m acai_hf",
                                     description="Acai OMR: sheet music to MusicXML and MIDI.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "transcribe", help="pages (images, PDFs, folders) -> MusicXML, MIDI and LMX per input",
        description=__doc__.split("\n\n")[1],
    )
    run.add_argument("inputs", nargs="+", help="image or PDF files, or folders of them")
    run.add_argument("-o", "--out", type=Path, required=True, help="output folder (made if missing)")
    run.add_argument("--model", help=f"model folder (default: ${MODEL_ENV}, else the shipped checkpoint)")
    run.add_argument("--pages", help="PDF pages to read, e.g. 1-3,5 (default: all, at most 30)")
    run.add_argument("--beams", type=int, default=1, help="beam search width (1: greedy)")
    run.add_argument("--constrained", action=argparse.BooleanOptionalAction, default=True,
                     help="decode only token sequences the LMX grammar allows (default: on)")
    run.add_argument("--batch-size", type=int, default=8, help="systems per batch")
    run.add_argument("--int8", action="store_true",
                     help="int8 decoder weights: faster decoding on a CPU, nearly the same accuracy")
    run.add_argument("--max-new-tokens", type=int, default=None, help="cap on tokens per system (at least 1)")
    return parser


def check_args(args) -> None:
    """Options that cannot work, refused before anything is loaded."""
    for option, value in (("--beams", args.beams), ("--batch-size", args.batch_size),
                          ("--max-new-tokens", args.max_new_tokens)):
        if value is not None and value < 1:
            raise CliError(f"{option} must be at least 1, not {value}.")
    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"-o {args.out}: that is a file, not a folder; give a folder for the outputs.")


def make_out_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a file in the way, no permission, a read-only disk
        raise CliError(f"-o {out}: cannot make the output folder ({error.strerror or error}).") from error


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_args(args)
        return run_transcribe(args)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run_transcribe(args) -> int:
    from accelerate import PartialState
    from tqdm.auto import tqdm

    jobs = plan_jobs(args.inputs)
    if not jobs:
        raise CliError("no inputs: the folders given hold no images or PDFs")
    model_name = model_to_load(args.model)
    state = PartialState()
    make_out_dir(args.out)
    model, processor = load_model(model_name, state.device, args.int8)
    outcomes = []
    with state.split_between_processes(jobs) as mine:
        desc = "systems" if state.num_processes == 1 else f"systems (process {state.process_index})"
        with tqdm(total=0, unit="system", desc=desc, position=state.process_index, dynamic_ncols=True) as progress:
            for job in mine:
                progress.set_postfix_str(job.path.name[:40])
                try:
                    outcomes.append(transcribe_job(job, args.out, model, processor, args, progress))
                except Exception as error:  # noqa: BLE001  one bad input must not stop the others
                    outcomes.append(Outcome(job, error=f"transcription failed ({type(error).__name__}: {error})"))
    failed = [o for o in outcomes if o.error]
    for outcome in outcomes:
        if outcome.error:
            print(f"error: {outcome.job.path}: {outcome.error}", file=sys.stderr)
        else:
            print(f"{outcome.job.path} -> {args.out / outcome.job.name}.musicxml "
                  f"({outcome.systems} systems, {outcome.measures} measures)")
            for number, why in outcome.page_errors.items():
                print(f"warning: {outcome.job.path}: page {number}: finding its systems failed ({why})",
                      file=sys.stderr)
            for index, why in outcome.left_out.items():
                print(f"warning: {outcome.job.path}: system {index + 1} is left out of the score: {why}",
                      file=sys.stderr)
            for lone in outcome.lone_keys:
                print(f"warning: {outcome.job.path}: {lone_key_warning(lone)}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {len(outcomes)} inputs failed.", file=sys.stderr)
    return 1 if failed else 0
