"""Reads the one <part> of a score from whatever a caller holds: a file, XML text, a tree or music21."""
import copy
import os
import xml.etree.ElementTree as ET
import zipfile


def load_part(source) -> ET.Element:
    """The single <part> of a score-partwise document, as a private copy the caller may change.

    source: a path (.musicxml, .xml, .mxl), MusicXML text or bytes, an ElementTree or Element
    (score-partwise or part), or a music21 stream. ValueError when it is not one part of a score.
    """
    if type(source).__module__.startswith("music21"):
        return _single_part(ET.fromstring(_music21_to_xml(source)))
    if isinstance(source, ET.ElementTree):
        source = source.getroot()
    if isinstance(source, ET.Element):
        return copy.deepcopy(_single_part(source))
    if isinstance(source, (bytes, bytearray)):
        return _single_part(_parse(bytes(source)))
    if isinstance(source, str) and source.lstrip().startswith("<"):
        return _single_part(_parse(source.encode("utf-8")))
    if isinstance(source, (str, os.PathLike)):
        return _single_part(_parse(_read_file(os.fspath(source))))
    raise ValueError(f"Cannot read a score from a {type(source).__name__}")


def _music21_to_xml(stream) -> bytes:
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    return GeneralObjectExporter(stream).parse()


def _parse(data: bytes) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"Not well-formed XML: {exc}") from exc


def _read_file(path: str) -> bytes:
    if not os.path.isfile(path):
        raise ValueError(f"{path[:80]!r} is neither MusicXML text nor an existing file")
    if zipfile.is_zipfile(path):
        return _read_mxl(path)
    with open(path, "rb") as f:
        return f.read()


def _read_mxl(path: str) -> bytes:
    """The root file of a compressed MusicXML archive, as META-INF/container.xml names it."""
    with zipfile.ZipFile(path) as archive:
        try:
            container = ET.fromstring(archive.read("META-INF/container.xml"))
            rootfile = next(e for e in container.iter() if e.tag.endswith("rootfile"))
            return archive.read(rootfile.get("full-path"))
        except (KeyError, StopIteration, TypeError, ET.ParseError) as exc:
            raise ValueError(f"{path}: not a MusicXML archive ({exc!r})") from exc


def _single_part(root: ET.Element) -> ET.Element:
    if root.tag == "part":
        return root
    if root.tag != "score-partwise":
        raise ValueError(f"Expected <score-partwise> or <part>, got <{root.tag}>")
    parts = root.findall("part")
    if len(parts) != 1:
        raise ValueError(f"Expected a score with one part (a grand staff), found {len(parts)} parts")
    return parts[0]
