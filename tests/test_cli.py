"""The batch command line: python -m acai_hf transcribe PAGE_OR_PDF... -o OUT_DIR, with a tiny
random-weights model (its music is garbage; the files, their structure and the errors are what count)."""
import shutil
import subprocess
import sys
from pathlib import Path

import music21
import pytest

from acai_hf import cli
from acai_hf.page.page_input import load_pages_from_path
from acai_hf.page.system_detection import detect_systems
from tiny_omr_model import save_tiny_model

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "sonatina_photo.png"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def run(args, capsys):
    code = cli.main(["transcribe", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_transcribes_a_bundled_example(tiny_model, tmp_path, capsys, one_torch_thread):
    page = tmp_path / "in" / "My Score (final) — ünï v2.PNG"  # a name no output file should carry
    page.parent.mkdir()
    shutil.copy(EXAMPLE, page)
    out = tmp_path / "out"
    code, stdout, stderr = run([page, "-o", out, "--model", tiny_model, "--max-new-tokens", "8",
                                "--batch-size", "2"], capsys)
    assert code == 0, stderr
    stem = "My_Score_final_uni_v2"
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}.lmx", f"{stem}.mid", f"{stem}.musicxml"]
    n_systems = len(detect_systems(load_pages_from_path(EXAMPLE)[0]))
    assert n_systems == 3
    paragraphs = (out / f"{stem}.lmx").read_text(encoding="utf-8").strip().split("\n\n")
    assert len(paragraphs) == n_systems and all(p.startswith("measure") for p in paragraphs)
    score = music21.converter.parse(out / f"{stem}.musicxml")
    assert len(score.parts) == 1
    assert (out / f"{stem}.mid").read_bytes().startswith(b"MThd")
    assert f"({n_systems} systems" in stdout and "systems" in stderr  # the summary and the progress bar


def test_bad_inputs_are_reported_and_the_others_still_run(tiny_model, tmp_path, capsys, one_torch_thread):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("L", (600, 800), 255).save(blank)
    out = tmp_path / "out"
    code, _, stderr = run([bad, tmp_path / "missing.pdf", blank, EXAMPLE, "-o", out, "--model", tiny_model,
                           "--max-new-tokens", "4", "--no-constrained", "--beams", "2", "--batch-size", "4"], capsys)
    assert code == 1
    assert "notes.png: The file is not an image or PDF" in stderr
    assert "missing.pdf: Cannot read missing.pdf" in stderr
    assert "blank.png: No music systems found" in stderr
    assert "3 of 4 inputs failed" in stderr
    assert (out / "sonatina_photo.musicxml").exists() and not (out / "notes.musicxml").exists()


def test_each_process_takes_its_share(tiny_model, tmp_path, capsys, monkeypatch, one_torch_thread):
    """Under accelerate, process 1 of 2 transcribes the second half of the inputs, under the names
    planned for all of them."""
    import contextlib

    import accelerate
    import torch

    class SecondOfTwo:
        device, num_processes, process_index, is_local_main_process = torch.device("cpu"), 2, 1, False

        @contextlib.contextmanager
        def split_between_processes(self, items):
            yield items[len(items) // 2:]

    monkeypatch.setattr(accelerate, "PartialState", SecondOfTwo)
    first, second = tmp_path / "page.png", tmp_path / "sub" / "page.png"
    second.parent.mkdir()
    shutil.copy(EXAMPLE, first)
    shutil.copy(EXAMPLE, second)
    out = tmp_path / "out"
    code, _, _ = run([first, second, "-o", out, "--model", tiny_model, "--max-new-tokens", "4"], capsys)
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["page-2.lmx", "page-2.mid", "page-2.musicxml"]


def test_missing_model_names_the_option(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(cli.MODEL_ENV, raising=False)
    monkeypatch.setattr("acai_hf.model.loading.DEFAULT_CHECKPOINT", tmp_path / "nothing-here")
    code, _, stderr = run([EXAMPLE, "-o", tmp_path / "out"], capsys)
    assert code == 2 and "--model" in stderr and "does not exist yet" in stderr
    code, _, stderr = run([EXAMPLE, "-o", tmp_path / "out", "--model", tmp_path], capsys)
    assert code == 2 and "no config.json" in stderr
    code, _, stderr = run([tmp_path, "-o", tmp_path / "out"], capsys)  # a folder with no pages in it
    assert code == 2 and "no inputs" in stderr


def test_output_names_are_safe_and_unique(tmp_path):
    assert cli.safe_stem("../../etc/passwd") == "passwd"
    assert cli.safe_stem("-rf .png") == "rf"
    assert cli.safe_stem(".hidden.png") == "hidden"
    assert cli.safe_stem("CON.pdf") == "score_CON"
    assert cli.safe_stem("Für Elise.pdf") == "Fur_Elise"
    assert cli.safe_stem("楽譜.png") == "score"
    assert cli.safe_stem("a" * 300 + ".png") == "a" * cli.MAX_STEM
    assert cli.safe_stem("x\\y\\..\\page 1.jpg") == "page_1"
    folder = tmp_path / "pages"
    folder.mkdir()
    for name in ("b.png", "a b.png", "a_b.PDF", "notes.txt"):
        (folder / name).write_bytes(b"")
    jobs = cli.plan_jobs([folder, tmp_path / "A B.png"])
    assert [job.name for job in jobs] == ["a_b", "a_b-2", "b", "A_B-3"]
    assert [job.path.name for job in jobs] == ["a b.png", "a_b.PDF", "b.png", "A B.png"]


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "acai_hf", "transcribe", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for option in ("--out", "--model", "--pages", "--beams", "--no-constrained", "--batch-size"):
        assert option in result.stdout


def test_int8_transcribes_and_is_refused_off_the_cpu(tiny_model, tmp_path, capsys, one_torch_thread):
    import torch

    out = tmp_path / "out"
    code, stdout, stderr = run([EXAMPLE, "-o", out, "--model", tiny_model, "--max-new-tokens", "8", "--int8"],
                               capsys)
    assert code == 0, stderr
    assert (out / f"{EXAMPLE.stem}.musicxml").is_file()
    with pytest.raises(cli.CliError, match="--int8 runs on the CPU only"):
        cli.load_model(str(tiny_model), torch.device("cuda"), int8=True)


def test_user_errors_exit_with_status_two_and_a_message(tmp_path, capsys):
    """-o naming a file was a FileExistsError traceback; --max-new-tokens 0 was silently ignored."""
    a_file = tmp_path / "scores.txt"
    a_file.write_text("not a folder")
    code, _, stderr = run([EXAMPLE, "-o", a_file], capsys)
    assert code == 2 and "that is a file, not a folder" in stderr and "Traceback" not in stderr
    code, _, stderr = run([EXAMPLE, "-o", a_file / "out"], capsys)  # a file in the way of the folder
    assert code == 2 and "cannot make the output folder" in stderr
    for option in ("--max-new-tokens", "--beams", "--batch-size"):
        code, _, stderr = run([EXAMPLE, "-o", tmp_path / "out", option, "0"], capsys)
        assert code == 2 and f"{option} must be at least 1, not 0" in stderr


def test_a_pipe_given_as_input_is_refused_not_waited_on(tiny_model, tmp_path, capsys, one_torch_thread):
    import os

    fifo = tmp_path / "page.pdf"
    os.mkfifo(fifo)  # nobody writes to it: reading it would wait forever
    code, _, stderr = run([fifo, "-o", tmp_path / "out", "--model", tiny_model], capsys)
    assert code == 1 and "page.pdf is not a regular file" in stderr
