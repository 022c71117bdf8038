"""The app's console carries what an operator needs: no per-request chatter from the libraries.

Two sources printed dozens of lines on every use. Gradio's route for custom components' files (the
box editor's JavaScript and CSS) prints "id=..., environment=..., type=..., file_name=..." for each
file it serves, with a bare print(); music21 warns about every voice it has to guess while it reads
our MusicXML for MIDI. The print is filtered out of stdout line by line; the warnings are ignored.
"""
import re
import sys
import threading
import warnings

GRADIO_FILE_LINE = re.compile(r"id=\S+, environment=\S+, type=\S+, file_name=\S*")


class _LineFilter:
    """A text stream that passes everything to `stream` except whole lines matching `pattern`.
    print() writes the text and its newline as two calls; the newline after a dropped line goes too."""

    def __init__(self, stream, pattern: re.Pattern):
        self.stream, self.pattern = stream, pattern
        self._dropped_last = False
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            if self.pattern.fullmatch(text.rstrip("\n")):
                self._dropped_last = not text.endswith("\n")
                return len(text)
            if self._dropped_last and text == "\n":
                self._dropped_last = False
                return len(text)
            self._dropped_last = False
            return self.stream.write(text)

    def flush(self):
        self.stream.flush()

    def __getattr__(self, name):  # encoding, isatty, fileno...: the real stream's
        return getattr(self.stream, name)


def quiet_console() -> None:
    """Call once at start-up (app.py): drops Gradio's file-serving prints and music21's warnings."""
    if not isinstance(sys.stdout, _LineFilter):
        sys.stdout = _LineFilter(sys.stdout, GRADIO_FILE_LINE)
    from music21.musicxml.xmlObjects import MusicXMLWarning

    warnings.filterwarnings("ignore", category=MusicXMLWarning)


__all__ = ["quiet_console", "GRADIO_FILE_LINE"]
