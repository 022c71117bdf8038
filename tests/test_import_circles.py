"""No import circle in acai_hf: every module imports on its own, as the first acai_hf module of a fresh process.

A circle only shows when the import starts at one of its members, so each module gets a process of its
own in which no acai_hf module has been imported yet. To keep that cheap, one process imports the
third-party libraries that acai_hf uses (torch, transformers, gradio, music21...) once and then forks a
child per module: the children share those libraries but run every line of acai_hf afresh.

Run as a script (`python tests/test_import_circles.py`) it prints the modules that failed, with why.
"""
import importlib
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "acai_hf"


def package_modules() -> list[str]:
    """Every module of the package (the evaluate scripts in metrics/lmx_* are loaded by path, not imported)."""
    names = []
    for path in sorted((REPO / PACKAGE).rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        folders = [REPO.joinpath(*parts[:depth]) for depth in range(1, len(parts))]
        if all((folder / "__init__.py").is_file() for folder in folders):
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def ours(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def in_a_child(work) -> tuple[int, bytes]:
    """(exit status, what it wrote) of work() run in a forked child; work returns bytes to hand back."""
    read_end, write_end = os.pipe()
    sys.stdout.flush(), sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        status = 0
        try:
            os.write(write_end, work())
        except BaseException:  # noqa: BLE001  reported to the parent as text
            os.write(write_end, traceback.format_exc().encode())
            status = 1
        os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        output = pipe.read()
    _, wait_status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(wait_status), output


def libraries_used(modules: list[str]) -> list[str]:
    """The non-acai_hf modules that importing all of acai_hf loads, in the order they were loaded."""
    def import_all():
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001  its failure is reported where it is imported alone
                pass
        return json.dumps([name for name in sys.modules if not ours(name)]).encode()

    return json.loads(in_a_child(import_all)[1])


def failures(modules: list[str]) -> dict[str, str]:
    """Module -> the traceback of importing it first in a fresh process, for those that fail."""
    for name in libraries_used(modules):
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001  an alias or a lazy stub: the child imports it as it needs
                pass
    assert not any(ours(name) for name in sys.modules), "a library imported acai_hf"
    failed = {}
    for name in modules:
        status, output = in_a_child(lambda: importlib.import_module(name) and b"")
        if status != 0:
            failed[name] = output.decode()[-2000:]
    return failed


def test_every_module_imports_on_its_own_in_a_fresh_process():
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, __file__], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["modules"] == len(package_modules()) > 50
    assert result["failed"] == {}, "\n".join(f"{name}:\n{why}" for name, why in result["failed"].items())


if __name__ == "__main__":
    modules = package_modules()
    print(json.dumps({"modules": len(modules), "failed": failures(modules)}))
