"""Per-request temp dirs for the files the app hands out, and their cleanup.

Gradio copies every returned file into its own cache (cleaned by Blocks' `delete_cache`), so our
copies are only needed until the response is sent. Each request gets a fresh dir with a random name
under one root of ours; the dirs of a session go when its tab closes (`demo.unload`), any dir goes
after MAX_AGE_S (API clients never close a tab), and the root goes when the process exits.
Nothing the client sends (file names, session ids) ever becomes part of a path.
"""
import atexit
import shutil
import tempfile
import threading
import time
from pathlib import Path

MAX_AGE_S = 3600  # far longer than one request takes, even a long PDF on a CPU


class RequestDirs:
    def __init__(self, root: Path | None = None, max_age_s: float = MAX_AGE_S):
        # under the system temp dir: Gradio serves returned files from there (or the working dir)
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="acai-omr-app-"))
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
