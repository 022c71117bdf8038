"""The downloads of one request, written with our own names into that request's temp dir."""
import zipfile
from dataclasses import dataclass
from pathlib import Path

SCORE_NAME = "score"
MXL_MIMETYPE = "application/vnd.recordare.musicxml"
CONTAINER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<container>
  <rootfiles>
    <rootfile full-path="{name}" media-type="application/vnd.recordare.musicxml+xml"/>
  </rootfiles>
</container>
"""


@dataclass(frozen=True)
class ScoreFiles:
    musicxml: Path
    mxl: Path
    midi: Path

    def downloads(self) -> list[str]:
        return [str(self.musicxml), str(self.mxl), str(self.midi)]


def write_mxl(musicxml: str, path: Path, inner_name: str = f"{SCORE_NAME}.musicxml") -> Path:
    """Compressed MusicXML: a zip whose first entry is the stored `mimetype`, then META-INF/container.xml
    naming the score (MusicXML 4.0, "Compressed MusicXML Files")."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), MXL_MIMETYPE, compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", CONTAINER_XML.format(name=inner_name),
                         compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(inner_name, musicxml, compress_type=zipfile.ZIP_DEFLATED)
    return path


def write_score_files(directory: Path, musicxml: str, midi: bytes) -> ScoreFiles:
    directory = Path(directory)
    musicxml_path = directory / f"{SCORE_NAME}.musicxml"
    musicxml_path.write_text(musicxml, encoding="utf-8")
    mxl_path = write_mxl(musicxml, directory / f"{SCORE_NAME}.mxl")
    midi_path = directory / f"{SCORE_NAME}.mid"
    midi_path.write_bytes(midi)
    return ScoreFiles(musicxml_path, mxl_path, midi_path)
