"""The procedural generator: valid, complete, deterministic MusicXML that covers the LMX vocabulary."""
import io
import xml.etree.ElementTree as ET
from collections import Counter
from fractions import Fraction
from functools import lru_cache

import pytest
from lmx.linearization.Delinearizer import Delinearizer
from lmx.linearization.Linearizer import Linearizer
from lmx.linearization.vocabulary import ALL_TOKENS

from training.data.sources.procedural import generate_piece, iter_pieces

COVERAGE_SEEDS = range(200)

# Vocabulary that piano music does not use, or that this generator leaves out on purpose.
NOT_PIANO = {
    *({f"clef:{sign}{line}" for sign in "GCF" for line in range(1, 6)} - {"clef:G2", "clef:F4"}),  # other instruments
    *(f"voice:{v}" for v in (9, 10, 11, 12)), "staff:3",  # organ
    *({f"{step}{octave}" for octave in (0, 8, 9) for step in "CDEFGAB"} - {"A0", "B0", "C8"}),  # beyond the keyboard
    "1024th", "512th", "256th", "long", "maxima",  # not seen in piano scores
    *(f"beats:{n}" for n in (13, 14, 15, 16)),  # no such meters in the repertoire we imitate
    # tuplet ratios that are notation accidents (n notes of a value in the time of far fewer of it)
    "7in6", "22in16", "10in4", "9in4", "18in4", "16in8", "11in12", "8in2", "4in2",
    "7in1", "35in16", "9in2", "5in2",
    "stem:none", "tremolo:unmeasured",  # stemless and buzz-roll notation: not in pianoform engraving
}
PIANO_TOKENS = [token for token in ALL_TOKENS if token not in NOT_PIANO]


@lru_cache(maxsize=None)
def piece(seed: int) -> str:
    return generate_piece(seed, difficulty=(seed % 11) / 10)


def linearize(musicxml: str) -> tuple[list[str], str]:
    errors = io.StringIO()
    linearizer = Linearizer(errout=errors)
    linearizer.process_part(ET.fromstring(musicxml).find("part"))
    return linearizer.output_tokens, errors.getvalue()


def measure_fill_errors(musicxml: str) -> list[str]:
    """Every voice must run from the measure start to its end without gaps (a pickup may be shorter)."""
    problems = []
    divisions, measure_length = None, None
    for measure in ET.fromstring(musicxml).iter("measure"):
        attributes = measure.find("attributes")
        if attributes is not None:
            divisions = int(attributes.findtext("divisions") or divisions)
            time = attributes.find("time")
            if time is not None:
                measure_length = Fraction(4 * int(time.findtext("beats")), int(time.findtext("beat-type"))) * divisions
        cursor, voice_ends = 0, {}
        for element in measure:
            if element.tag == "backup":
                cursor -= int(element.findtext("duration"))
            elif element.tag in ("note", "forward"):
                if element.find("chord") is not None or element.find("grace") is not None:
                    continue
                voice = element.findtext("voice")
                if voice_ends.get(voice, 0) != cursor:
                    problems.append(f"measure {measure.get('number')} voice {voice}: gap or overlap at {cursor}")
                cursor += int(element.findtext("duration"))
                voice_ends[voice] = cursor
        expected = measure_length
        if measure.get("implicit") == "yes":
            expected = max(voice_ends.values())
        for voice, end in voice_ends.items():
            if end != expected:
                problems.append(f"measure {measure.get('number')} voice {voice}: fills {end} of {expected}")
    return problems


def test_same_seed_same_piece():
    assert generate_piece(7, 0.4) == generate_piece(7, 0.4)
    assert generate_piece(7, 0.4) != generate_piece(8, 0.4)
    first = list(iter_pieces(3, seed=5))
    assert first == list(iter_pieces(3, seed=5))
    assert [piece_id for piece_id, _ in first] == ["proc-5-0", "proc-5-1", "proc-5-2"]


def test_difficulty_raises_density():
    def onsets_per_measure(difficulty):
        roots = [ET.fromstring(generate_piece(seed, difficulty, n_measures=8)) for seed in range(12)]
        onsets = [note for root in roots for note in root.iter("note") if note.find("chord") is None]
        return len(onsets) / (8 * len(roots))

    assert onsets_per_measure(0.9) > 1.3 * onsets_per_measure(0.1)


def test_requested_length_and_numbering():
    root = ET.fromstring(generate_piece(3, 0.5, n_measures=16))
    assert [m.get("number") for m in root.iter("measure")] == [str(n) for n in range(1, 17)]
    assert root.findtext("part-list/score-part/part-name") == "Piano"
    assert root.findtext("part/measure/attributes/staves") == "2"


@pytest.mark.parametrize("seed", range(0, 200, 4))
def test_voices_fill_measures_and_lmx_round_trips(seed):
    musicxml = piece(seed)
    assert measure_fill_errors(musicxml) == []
    assert unmatched_ties_and_slurs(musicxml) == []
    tokens, errors = linearize(musicxml)
    assert errors == ""
    delinearizer_errors = io.StringIO()
    rebuilt = Delinearizer(errout=delinearizer_errors).process_text(" ".join(tokens))
    assert delinearizer_errors.getvalue() == ""
    # the printed accidentals alone give back every pitch (LMX stores no <alter>)
    assert sounding_pitches(rebuilt) == sounding_pitches(ET.fromstring(musicxml).find("part"))


def sounding_pitches(part: ET.Element) -> list[tuple]:
    return [(p.findtext("step"), int(p.findtext("alter") or 0), p.findtext("octave")) for p in part.iter("pitch")]


def unmatched_ties_and_slurs(musicxml: str) -> list[str]:
    """Every tie start meets a stop on the same pitch in the same voice; every slur number opens and closes."""
    problems, open_ties, open_slurs = [], set(), set()
    for note in ET.fromstring(musicxml).iter("note"):
        voice = note.findtext("voice")
        pitch = (voice, note.findtext("pitch/step"), note.findtext("pitch/alter"), note.findtext("pitch/octave"))
        ties = [tie.get("type") for tie in note.findall("tie")]
        if "stop" in ties:
            if pitch not in open_ties:
                problems.append(f"tie stop without start: {pitch}")
            open_ties.discard(pitch)
        if "start" in ties:
            open_ties.add(pitch)
        for slur in note.findall("notations/slur"):
            number = slur.get("number")
            if slur.get("type") == "stop":
                if number not in open_slurs:
                    problems.append(f"slur {number} stops unopened")
                open_slurs.discard(number)
            elif number in open_slurs:
                problems.append(f"slur {number} reopened")
            else:
                open_slurs.add(number)
    return problems + [f"dangling tie {t}" for t in open_ties] + [f"dangling slur {s}" for s in open_slurs]


@pytest.mark.parametrize("seed", range(0, 200, 25))
def test_music21_and_verovio_read_it(seed, capfd):
    import music21
    import verovio

    musicxml = piece(seed)
    score = music21.converter.parse(musicxml, format="musicxml")
    assert len(score.parts) == 2  # music21 splits the piano part into its two staves
    verovio.enableLog(verovio.LOG_WARNING)
    assert verovio.toolkit().loadData(musicxml)
    log = capfd.readouterr().err
    assert "[Error]" not in log and "[Warning]" not in log, log[:500]


def test_vocabulary_coverage_keys_and_meters():
    produced, meters = Counter(), Counter()
    for seed in COVERAGE_SEEDS:
        tokens = linearize(piece(seed))[0]
        produced.update(tokens)
        meters.update(f"{tokens[i + 1][6:]}/{tokens[i + 2][10:]}" for i, token in enumerate(tokens) if token == "time")
    never = [token for token in PIANO_TOKENS if token not in produced]
    print(f"\nnever produced ({len(never)} of {len(PIANO_TOKENS)} piano tokens):", " ".join(never))
    assert len(never) <= 0.05 * len(PIANO_TOKENS)
    assert all(f"key:fifths:{fifths}" in produced for fifths in range(-7, 8))
    for meter in ("2/4", "3/4", "4/4", "2/2", "3/8", "6/8", "9/8", "12/8", "5/4", "7/8", "6/4", "3/2"):
        assert meters[meter] > 0, meter
