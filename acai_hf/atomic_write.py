"""Writing a file so that a reader never sees half of it: write beside it, then rename over it."""
import os
from pathlib import Path
from typing import Callable


def write_atomically(path, write: Callable[[Path], object]) -> None:
    """write(temporary path), then rename it to `path` (os.replace: atomic on one file system)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)


__all__ = ["write_atomically"]
