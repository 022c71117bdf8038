"""An engraved preview of a score: Verovio SVG, every page, with the measures that do not fill their
time signature highlighted (a pale red band behind the measure, its notes in red) and a short legend.

render_preview(musicxml) never raises: anything that goes wrong becomes a message in the HTML, since
the preview is a check for a person and the downloads must not fail with it.
"""
import html
import re
import threading
from typing import Iterable, Optional

from lxml import etree as ET

from acai_hf.music.verovio_input import tag_for_verovio

HIGHLIGHT_FILL = "#ffcdd2"  # the band behind a highlighted measure
HIGHLIGHT_INK = "#c62828"  # its notes, rests, stems and beams
DISPLAY_WIDTH_PX = 1000  # the SVG scales down to its container, never above this width
MAX_MEASURES = 2000  # a page of piano music has ~30; far more is not worth engraving in a browser

VEROVIO_OPTIONS = {
    "pageWidth": 2200,  # Verovio units at scale 100; with the scale below, ~1000 px wide
    "pageHeight": 2970,
    "adjustPageHeight": True,
    "scale": 45,
    "breaks": "smart",  # the page's own system breaks where they fit, automatic ones where they do not
    "pageMarginLeft": 60,
    "pageMarginRight": 40,
    "pageMarginTop": 40,
    "pageMarginBottom": 40,
    "header": "none",
    "footer": "none",
    "mnumInterval": 1,  # every measure numbered, so the legend's numbers can be found
    "xmlIdSeed": 1,
}

_SVG_NS = "http://www.w3.org/2000/svg"
_MEASURE_ID = re.compile(r"acai-m(\d+)$")
_LINE_PATH = re.compile(r"M\s*(-?[\d.]+)\s+(-?[\d.]+)\s+L\s*(-?[\d.]+)\s+(-?[\d.]+)")
_PARSER = ET.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)

# one toolkit, one caller at a time: a Verovio toolkit keeps the loaded score as state
_toolkit_lock = threading.Lock()
_toolkit = None


def render_preview(musicxml: str, highlight_measures: Optional[Iterable] = None) -> str:
    """An HTML fragment with the engraved score.

    highlight_measures: measure numbers (as MusicXML writes them, e.g. "3" or 3) to highlight; None
    takes the measures that acai_hf.measure_validity finds not filling the time signature.
    """
    try:
        return engrave_preview(musicxml, highlight_measures)
    except Exception as exc:  # any failure is shown, not raised: see the module docstring
        return preview_failed(str(exc))


def engrave_preview(musicxml: str, highlight_measures: Optional[Iterable] = None) -> str:
    """render_preview, raising what goes wrong (for callers that find the system to blame)."""
    indices, legend = _measures_to_highlight(musicxml, highlight_measures)
    pages = _engrave(musicxml)
    svgs = "".join(f'<div class="acai-preview-page">{_highlight(svg, indices)}</div>' for svg in pages)
    return f'<div class="acai-preview">{legend}{svgs}</div>'


def preview_failed(reason: str) -> str:
    """The HTML that stands in for the preview when it cannot be drawn."""
    return _message(f"The preview could not be drawn: {reason}")


def _measures_to_highlight(musicxml: str, highlight_measures) -> tuple[set[int], str]:
    """Indices (in document order) of the measures to highlight, and the legend's HTML."""
    from acai_hf.music.measure_lengths import measure_validity

    if not isinstance(musicxml, (str, bytes)) or not musicxml.strip():
        raise ValueError("there is no MusicXML to draw")
    if not musicxml.lstrip().startswith(b"<" if isinstance(musicxml, bytes) else "<"):
        raise ValueError("that is not MusicXML text")  # and never a path: measure_validity would open one
    reports = measure_validity(musicxml)
    if not reports:
        raise ValueError("the score has no measures")
    if len(reports) > MAX_MEASURES:
        raise ValueError(f"the score has {len(reports):,} measures; the preview draws at most {MAX_MEASURES:,}")
    if highlight_measures is None:
        chosen = [(i, r) for i, r in enumerate(reports) if r.fills is False]
        reasons = {i: r.verdict for i, r in chosen}
    else:
        wanted = {str(number) for number in highlight_measures}
        chosen = [(i, r) for i, r in enumerate(reports) if r.number in wanted]
        reasons = {}
    unjudged = sum(r.fills is None for r in reports)
    return {i for i, _ in chosen}, _legend([r.number for _, r in chosen], reasons.values(), len(reports), unjudged)


def _legend(numbers: list[str], reasons: Iterable[str], measure_count: int, unjudged: int = 0) -> str:
    # e.g. no time signature was read: nothing to check those measures' durations against
    unchecked = f" {unjudged} cannot be checked: no time signature in force." if unjudged else ""
    if not numbers:
        text = f"{measure_count} measure(s); none highlighted.{unchecked}"
        return f'<p class="acai-preview-legend">{html.escape(text)}</p>'
    swatch = (f'<span style="display:inline-block;width:1.2em;height:0.9em;vertical-align:middle;'
              f'background:{HIGHLIGHT_FILL};border:1px solid {HIGHLIGHT_INK}"></span>')
    listed = ", ".join(numbers[:40]) + (" …" if len(numbers) > 40 else "")
    why = "do not fill their time signature" if reasons else "highlighted"
    text = f" {len(numbers)} of {measure_count} measure(s) {why} (in red): {listed}.{unchecked}"
    return f'<p class="acai-preview-legend">{swatch}{html.escape(text)}</p>'


def _engrave(musicxml: str) -> list[str]:
    """The SVG of every page."""
    import verovio

    global _toolkit
    tagged = tag_for_verovio(musicxml, measure_numbers="every")
    with _toolkit_lock:
        if _toolkit is None:
            verovio.enableLog(verovio.LOG_OFF)
            _toolkit = verovio.toolkit()
        _toolkit.resetOptions()
        _toolkit.setOptions(VEROVIO_OPTIONS)
        if not _toolkit.loadData(tagged):
            raise ValueError("Verovio could not read the MusicXML")
        pages = [_toolkit.renderToSVG(page) for page in range(1, _toolkit.getPageCount() + 1)]
    if not pages:
        raise ValueError("Verovio drew no page")
    return pages


def _highlight(svg: str, indices: set[int]) -> str:
    """The page SVG, made responsive, with a band behind and red ink in each chosen measure."""
    root = ET.fromstring(svg.encode("utf-8"), _PARSER)
    _make_responsive(root)
    for group in root.iter(f"{{{_SVG_NS}}}g"):
        match = _MEASURE_ID.match(group.get("id", ""))
        if match is None or int(match.group(1)) not in indices:
            continue
        group.set("class", group.get("class", "") + " acai-highlight")
        box = _staff_box(group)
        if box is not None:
            x, y, width, height = box
            band = ET.Element(f"{{{_SVG_NS}}}rect", x=str(x), y=str(y), width=str(width), height=str(height),
                              fill=HIGHLIGHT_FILL, style="stroke:none", **{"class": "acai-highlight-band"})
            group.insert(0, band)
        # the layers hold notes, rests, stems and beams; staff lines and barlines stay black
        for layer in group.iter(f"{{{_SVG_NS}}}g"):
            if "layer" in layer.get("class", "").split():
                layer.set("fill", HIGHLIGHT_INK)
                layer.set("color", HIGHLIGHT_INK)
    return ET.tostring(root, encoding="unicode")


def _make_responsive(root: ET._Element) -> None:
    """Verovio gives the outer <svg> a size in pixels; a viewBox of that size lets it shrink to fit."""
    width, height = (float(root.get(side, "0").removesuffix("px")) for side in ("width", "height"))
    if width > 0 and height > 0:
        root.set("viewBox", f"0 0 {width:g} {height:g}")
        root.set("width", "100%")
        root.attrib.pop("height")
        root.set("style", f"max-width:{min(width, DISPLAY_WIDTH_PX):g}px;height:auto;display:block")


def _staff_box(measure: ET._Element) -> Optional[tuple[float, float, float, float]]:
    """x, y, width, height around the measure's staff lines, padded by a staff space above and below."""
    xs, ys = [], []
    for staff in measure:
        if "staff" not in staff.get("class", "").split():
            continue
        for path in staff.findall(f"{{{_SVG_NS}}}path"):
            line = _LINE_PATH.match(path.get("d", ""))
            if line:
                x1, y1, x2, y2 = map(float, line.groups())
                xs += [x1, x2]
                ys += [y1, y2]
    if not xs:
        return None
    pad = 180  # a staff space in Verovio's units
    return min(xs), min(ys) - pad, max(xs) - min(xs), max(ys) - min(ys) + 2 * pad


def _message(text: str) -> str:
    return f'<div class="acai-preview acai-preview-error"><p><strong>{html.escape(text)}</strong></p></div>'
