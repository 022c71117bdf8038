"""The compare view: per system, the crop from the page directly above that system engraved from its
LMX, with the measures numbered as on the page, so a musician reads them bar against bar.

A measure that does not fill its time signature is red in the engraving and named in the crop's caption
(the crop itself is not marked: nothing in the app finds its barlines). A system left out of the score
shows its crop and why, instead of an engraving. Verovio runs once per system, and the systems are
already capped (workspace.MAX_SYSTEMS).
"""
import base64
import html
import io
from dataclasses import dataclass

from xml.etree import ElementTree as ET  # as acai_hf.music.score_assembly, whose system_in_context takes its elements

from acai_hf.app.workspace import System
from acai_hf.music.preview import HIGHLIGHT_INK, render_preview
from acai_hf.music.score import Score
from acai_hf.music.score_assembly import system_in_context

CROP_DISPLAY_WIDTH = 1000  # px: the crop is shown no wider than the engraving (preview.DISPLAY_WIDTH_PX)


@dataclass
class SystemMeasures:
    """Where one system's measures are in the score, and their numbers as printed."""
    start: int  # index of its first measure in the score (document order)
    count: int  # 0 when the system is left out
    numbers: list[str]  # as the score numbers them (the page's first measure number + the measures before)
    not_filling: list[str]  # those of `numbers` that do not fill their time signature


def system_measures(score: Score) -> list[SystemMeasures]:
    """Per system, its measures; empty when the per-system counts do not add up to the score's measures."""
    counts = score.measures_per_system()
    if counts is None:
        return []
    bad = {report.number for report in score.bad_measures()}
    numbers = [report.number for report in score.validity]
    spans, start = [], 0
    for count in counts:
        mine = numbers[start:start + count]
        spans.append(SystemMeasures(start, count, mine, [number for number in mine if number in bad]))
        start += count
    return spans


def compare_view(score: Score, systems: list[System]) -> str:
    """HTML: per system, its caption, its crop and its engraving (or why there is none)."""
    if not systems:
        return ""
    spans = system_measures(score)
    if len(spans) != len(systems):
        return _note("The compare view cannot be drawn: the systems' measures do not add up to the score's.")
    measures = list(ET.fromstring(score.musicxml.encode("utf-8")).find("part").iter("measure"))
    blocks = [_system_block(number, system, span, measures, score.left_out.get(number - 1))
              for number, (system, span) in enumerate(zip(systems, spans), start=1)]
    return f'<div class="acai-compare">{"".join(blocks)}</div>'


def system_caption(number: int, system: System, span: SystemMeasures) -> str:
    """e.g. "System 2 (page 1), measures 5-8; not filling their time signature: 6"."""
    where = f"System {number} (page {system.page + 1})"
    if not span.numbers:
        return f"{where}, no measures"
    first, last = span.numbers[0], span.numbers[-1]
    text = f"{where}, measure {first}" if first == last else f"{where}, measures {first}-{last}"
    if span.not_filling:
        text += f"; not filling their time signature: {', '.join(span.not_filling)}"
    return text


def _system_block(number, system, span, measures, problem) -> str:
    caption = html.escape(system_caption(number, system, span))
    if span.not_filling:  # the same red as the engraving's marked measures
        caption = f'<span style="color:{HIGHLIGHT_INK}">{caption}</span>'
    crop = (f'<img class="acai-compare-crop" alt="System {number} as cropped from the page" '
            f'src="{_data_uri(system.crop)}" style="display:block;width:100%;max-width:{CROP_DISPLAY_WIDTH}px">')
    if problem:
        engraved = f'<p class="acai-compare-error"><strong>Not engraved: {html.escape(problem)}</strong></p>'
    else:
        alone = system_in_context(measures, span.start, span.count)
        engraved = render_preview(alone, highlight_measures=span.not_filling)
    return (f'<div class="acai-compare-system" style="margin:1em 0;padding-bottom:1em;border-bottom:1px solid #ccc">'
            f'<p class="acai-compare-caption"><strong>{caption}</strong></p>{crop}'
            f'<div class="acai-compare-engraved">{engraved}</div></div>')


def _data_uri(image) -> str:
    """The crop as an inline PNG, shrunk to the width it is shown at (a phone photo's crop is 4000 px)."""
    shown = image.convert("RGB")
    if shown.width > CROP_DISPLAY_WIDTH:
        shown = shown.resize((CROP_DISPLAY_WIDTH, max(1, round(shown.height * CROP_DISPLAY_WIDTH / shown.width))))
    buffer = io.BytesIO()
    shown.save(buffer, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _note(text: str) -> str:
    return f'<div class="acai-compare"><p>{html.escape(text)}</p></div>'


__all__ = ["SystemMeasures", "system_measures", "compare_view", "system_caption"]
