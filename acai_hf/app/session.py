"""Per-request temp dirs for the files the app hands out, and their cleanup.

Gradio copies every returned file into its own cache (cleaned by Blocks' `delete_cache`), so our
copies are only needed until the response is sent. Each request gets a fresh dir with a random name
under one root of ours; the dirs of a session go when its tab closes (`demo.unload`), any dir goes
after MAX_AGE_S (API clients never close a tab), and the root goes when the process exits (atexit;
app.py turns SIGTERM into the same orderly exit as Ctrl-C).
Nothing the client sends (file names, session ids) ever becomes part of a path.

A process killed outright (SIGKILL, a crash) leaves its root behind. Each root made here holds an
OWNER_FILE naming its process (pid, start time, host); at start-up `remove_stale_roots` removes the
roots whose process is gone, and nothing else: only directories (not links) of ours, named with our
prefix, directly in the temp dir, whose owner file we wrote on this host.
"""
import atexit
import json
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from pathlib import Path

MAX_AGE_S = 3600  # far longer than one request takes, even a long PDF on a CPU
ROOT_PREFIX = "acai-omr-app-"
OWNER_FILE = "owner.json"


class RequestDirs:
    def __init__(self, root: Path | None = None, max_age_s: float = MAX_AGE_S):
        # under the system temp dir: Gradio serves returned files from there (or the working dir)
        if root is None:
            root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX))
            (root / OWNER_FILE).write_text(json.dumps(_this_process()), encoding="utf-8")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_age_s = max_age_s
        self._by_session: dict[str, list[Path]] = {}  # the session hash is a dict key, never a path
        self._lock = threading.Lock()
        atexit.register(shutil.rmtree, self.root, True)

    def new(self, session: str | None = None) -> Path:
        """A fresh empty dir for one request's files (and a sweep of the ones that outlived their use)."""
        self.sweep()
        path = Path(tempfile.mkdtemp(prefix="request-", dir=self.root))
        with self._lock:
            self._by_session.setdefault(session or "", []).append(path)
        return path

    def release(self, session: str | None) -> None:
        """Remove the dirs of a session that has ended."""
        with self._lock:
            paths = self._by_session.pop(session or "", [])
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)

    def sweep(self, now: float | None = None) -> None:
        """Remove the dirs older than max_age_s."""
        deadline = (now or time.time()) - self.max_age_s
        for path in self.root.glob("request-*"):
            try:
                if path.stat().st_mtime < deadline:
                    shutil.rmtree(path, ignore_errors=True)
            except FileNotFoundError:  # another request swept it first
                pass
        with self._lock:
            for session, paths in list(self._by_session.items()):
                paths[:] = [p for p in paths if p.exists()]
                if not paths:
                    del self._by_session[session]

    def live(self) -> list[Path]:
        return sorted(self.root.glob("request-*"))


def session_of(request) -> str | None:
    """The Gradio session hash of a request (None outside a request, e.g. in a direct call)."""
    return getattr(request, "session_hash", None) if request is not None else None


def remove_stale_roots(temp_dir: Path | None = None) -> list[Path]:
    """Remove the roots that killed runs of the app left in the temp dir; -> the ones removed."""
    temp_dir = Path(temp_dir or tempfile.gettempdir())
    removed = []
    for path in temp_dir.glob(ROOT_PREFIX + "*"):
        owner = _owner_of(path)
        if owner is not None and not _alive(owner):
            shutil.rmtree(path, ignore_errors=True)  # rmtree does not follow links inside
            removed.append(path)
    return removed


def _this_process() -> dict:
    return {"pid": os.getpid(), "started": _start_time(os.getpid()), "host": socket.gethostname()}


def _start_time(pid: int) -> str | None:
    """When the process started (clock ticks since boot, from /proc): tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat_file:
            return stat_file.read().rsplit(")", 1)[1].split()[19]  # field 22; the name may hold spaces
    except (OSError, IndexError):
        return None


def _owner_of(path: Path) -> dict | None:
    """The owner record of one of our roots on this host; None for anything that is not plainly that."""
    try:
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return None
        owner_path = path / OWNER_FILE
        owner_info = owner_path.lstat()
        if not stat.S_ISREG(owner_info.st_mode) or owner_info.st_uid != os.getuid() or owner_info.st_size > 1024:
            return None
        owner = json.loads(owner_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(owner, dict) or not isinstance(owner.get("pid"), int) or owner.get("host") != socket.gethostname():
        return None
    return owner


def _alive(owner: dict) -> bool:
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user has that pid: not ours, so ours is gone
        return False
    except OSError:
        return True
    started = owner.get("started")
    return started is None or _start_time(owner["pid"]) == started
