"""LMX systems -> one score (MusicXML, MIDI, measure check) in which a bad system costs only itself.

Each stage (the join, MIDI, the measure check, and any the caller adds, such as the app's preview)
runs on the whole score first. When one raises, every system goes through that stage on its own,
with the divisions, key, time signature and clefs in force where it starts (what music21 needs to
read it as it would inside the score); the systems that fail there are left out, with their error,
and the score is built again from the others. A failure that shows only in context is not searched
for (that would cost a full run per step): the stage falls back (an empty MIDI, no measure report)
and says so. The cost is bounded: two runs of each stage on the score plus one per system, and a
score of at most MAX_SCORE_MEASURES measures (music21's MIDI writer takes more than linear time).
"""
import copy
import dataclasses
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Callable

from lmx.symbolic.get_head_attributes import get_head_attributes
from lmx.symbolic.part_to_score import part_to_score
from lmx.symbolic.sort_attributes import sort_attributes

from acai_hf.music.joining import JoinedScore, join_systems, join_systems_with_errors
from acai_hf.music.measure_lengths import measure_validity
from acai_hf.music.midi import to_midi
from acai_hf.music.score import MEASURE_CHECK_STAGE, MIDI_STAGE, Score
from acai_hf.music.score_settings import ScoreSettings, apply_settings

MAX_SCORE_MEASURES = 1200  # 30 pages (the app's limit) of about 40 measures
_IN_FORCE = ("divisions", "key", "time", "staves", "clef")


@dataclass(frozen=True)
class Stage:
    name: str  # as the report says it: "MIDI", "measure check", "preview"
    run: Callable[[str], Any]  # MusicXML text -> the stage's output; raises on failure
    # error -> the output to give when the score fails even without the systems that failed alone
    fallback: Callable[[str], Any]


def _empty_midi(_error: str) -> bytes:
    return to_midi(join_systems([]))


MIDI = Stage(MIDI_STAGE, to_midi, _empty_midi)
MEASURE_CHECK = Stage(MEASURE_CHECK_STAGE, measure_validity, lambda _error: [])


def assemble_score(systems, extra_stages: tuple[Stage, ...] = (), max_measures: int = MAX_SCORE_MEASURES,
                   settings: ScoreSettings | None = None) -> Score:
    """The score of `systems` (LMX strings); see the module docstring. Never raises for bad music.
    `settings`: the metre and first measure number a musician gave (acai_hf.music.score_settings)."""
    systems = [str(system) for system in systems]
    stages = (MIDI, MEASURE_CHECK, *extra_stages)
    left_out = _over_the_measure_cap(systems, max_measures)
    kept = [i for i in range(len(systems)) if i not in left_out]
    joined, join_error = _try(lambda: _join([systems[i] for i in kept], settings))
    if join_error is not None:  # a delinearizer bug: find the systems that raise on their own
        for i in kept:
            _, error = _try(lambda: join_systems_with_errors([systems[i]]))
            if error is not None:
                left_out[i] = f"it could not be joined ({error})"
        kept = [i for i in kept if i not in left_out]
        joined = _join([systems[i] for i in kept], settings)  # a failure now is ours to see
    outputs, stage_errors = {}, {}
    for stage in stages:
        output, error = _try(lambda: stage.run(joined.musicxml))
        if error is not None:
            culprits = _fails_alone(stage, joined, kept)
            if culprits:
                for i, why in culprits.items():
                    left_out[i] = f"{stage.name} failed on it ({why})"
                kept = [i for i in kept if i not in culprits]
                return _again(systems, kept, left_out, stages, settings)
            output, stage_errors[stage.name] = stage.fallback(error), error
        outputs[stage.name] = output
    return _result(systems, kept, joined, outputs, left_out, stage_errors)


def _join(systems: list[str], settings: ScoreSettings | None) -> JoinedScore:
    joined = join_systems_with_errors(systems)
    return dataclasses.replace(joined, musicxml=apply_settings(joined.musicxml, settings))


def _again(systems, kept, left_out, stages, settings) -> Score:
    """The score of the kept systems after some were left out: each stage once more, falling back
    (without another search) when it still fails."""
    joined = _join([systems[i] for i in kept], settings)
    outputs, stage_errors = {}, {}
    for stage in stages:
        outputs[stage.name], error = _try(lambda: stage.run(joined.musicxml))
        if error is not None:
            outputs[stage.name], stage_errors[stage.name] = stage.fallback(error), error
    return _result(systems, kept, joined, outputs, left_out, stage_errors)


def _result(systems, kept, joined, outputs, left_out, stage_errors) -> Score:
    errors, counts = [[] for _ in systems], [0] * len(systems)
    for position, i in enumerate(kept):
        errors[i], counts[i] = joined.errors[position], joined.measure_counts[position]
    return Score(systems, joined.musicxml, outputs, errors, counts, dict(sorted(left_out.items())),
                          stage_errors)


def _over_the_measure_cap(systems: list[str], max_measures: int) -> dict[int, str]:
    """Systems left out because the ones before them already make max_measures measures."""
    left_out, total = {}, 0
    for i, system in enumerate(systems):
        count = system.split().count("measure")
        if total + count > max_measures:
            left_out[i] = (f"the score would have more than {max_measures:,} measures "
                           f"({total:,} before this system, {count:,} in it)")
        else:
            total += count
    return left_out


def _fails_alone(stage: Stage, joined, kept: list[int]) -> dict[int, str]:
    """Index of a system -> the error `stage` raises on that system alone, in its context."""
    part = ET.fromstring(joined.musicxml).find("part")
    measures = list(part.iter("measure"))
    culprits, start = {}, 0
    for position, i in enumerate(kept):
        count = joined.measure_counts[position]
        alone = system_in_context(measures, start, count)
        _, error = _try(lambda: stage.run(alone))
        if error is not None:
            culprits[i] = error
        start += count
    return culprits


def system_in_context(measures: list[ET.Element], start: int, count: int) -> str:
    """A MusicXML score of measures[start:start + count] whose first measure carries the divisions,
    key, time signature, staves and clefs in force at `start`."""
    in_force = {}
    for measure in measures[:start]:
        for attributes in measure.findall("attributes"):
            for element in attributes:
                if element.tag in _IN_FORCE:
                    in_force[element.tag, element.get("number", "1")] = element
    part = ET.Element("part", {"id": "P1"})
    part.extend(copy.deepcopy(measure) for measure in measures[start:start + count])
    if len(part) == 0:
        ET.SubElement(part, "measure", {"number": "1"})
    head = get_head_attributes(part[0], create_if_missing=True)
    present = {(element.tag, element.get("number", "1")) for element in head}
    head.extend(copy.deepcopy(element) for slot, element in in_force.items() if slot not in present)
    sort_attributes(head)
    score = part_to_score(part, part_id="P1", part_name="Piano", musicxml_version="4.0")
    return ET.tostring(score.getroot(), encoding="unicode", xml_declaration=True)


def _try(call) -> tuple[Any, str | None]:
    """(call(), None), or (None, a one-line description of what it raised)."""
    try:
        return call(), None
    except Exception as error:  # noqa: BLE001  music21 and Verovio raise anything on odd input
        return None, f"{type(error).__name__}: {error}"[:300]


__all__ = ["assemble_score", "Stage", "MIDI", "MEASURE_CHECK", "MAX_SCORE_MEASURES",
           "system_in_context"]
