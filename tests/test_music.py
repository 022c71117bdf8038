"""Joining systems into one MusicXML score, MIDI export and the measure-length check."""
import copy
import xml.etree.ElementTree as ET
from fractions import Fraction

import pytest

from acai_hf import join_systems, measure_validity, to_midi
from acai_hf.music.joining import join_systems_with_errors
from acai_hf.music.key_check import key_in_words, lone_keys
from acai_hf.music.musicxml_schema import validate_musicxml
from conftest import load_vectors

GOLD = {case["id"][:4]: case["gold_lmx"] for case in load_vectors()}
# C. P. E. Bach H186, measures 1-2 (key, 4/4), 23-25 and 30-31: the same key and clefs throughout
H186 = [GOLD["g003"], GOLD["g005"], GOLD["g004"]]


@pytest.fixture(scope="module")
def h186():
    return join_systems(H186)


def _count(xml, path):
    return len(ET.fromstring(xml).findall(path))


def test_joined_score_is_valid_musicxml(h186):
    assert validate_musicxml(h186) == []
    root = ET.fromstring(h186)
    assert root.tag == "score-partwise" and root.get("version") == "4.0"
    assert root.findtext("part-list/score-part/part-name") == "Piano"
    assert [m.get("number") for m in root.iter("measure")] == [str(n) for n in range(1, 8)]
    assert root.findtext("part/measure/attributes/staves") == "2"
    assert _count(h186, "part/measure/print[@new-system='yes']") == 2


def test_joined_score_reads_in_music21_and_verovio(h186):
    import music21
    import verovio

    score = music21.converter.parse(h186, format="musicxml")
    assert len(score.parts) == 2  # the two staves of the grand staff
    assert [len(staff.getElementsByClass("Measure")) for staff in score.parts] == [7, 7]
    assert verovio.toolkit().loadData(h186) is True


def test_repeated_key_clefs_and_time_are_dropped(h186):
    assert _count(h186, ".//key") == 1
    assert _count(h186, ".//time") == 1
    assert _count(h186, ".//clef") == 2


def test_real_changes_are_kept():
    # H186 in A major 4/4, then a polonaise in C major 3/4
    xml = join_systems([GOLD["g003"], GOLD["g014"]])
    assert [k.findtext("fifths") for k in ET.fromstring(xml).iter("key")] == ["3", "0"]
    assert [t.findtext("beats") for t in ET.fromstring(xml).iter("time")] == ["4", "3"]
    # Lindenbaum (treble and bass), then Beach with a treble clef on the lower staff
    xml = join_systems([GOLD["g024"], GOLD["g025"]])
    clefs = [(c.get("number"), c.findtext("sign")) for c in ET.fromstring(xml).iter("clef")]
    assert clefs == [("1", "G"), ("2", "F"), ("2", "G")]
    assert validate_musicxml(xml) == []


def test_systems_with_errors_still_join():
    joined = join_systems_with_errors([GOLD["g003"], "garbage only", "C4 quarter " + GOLD["g005"]])
    assert _count(joined.musicxml, ".//measure") == 5
    assert validate_musicxml(joined.musicxml) == []
    severities = [[e.severity for e in errors] for errors in joined.errors]
    assert severities == [[], ["catastrophic", "minor", "minor"], ["minor", "minor"]]


def test_nothing_to_join_is_still_a_valid_score():
    xml = join_systems([])
    assert validate_musicxml(xml) == []
    assert _count(xml, ".//measure") == 1


def test_to_midi_has_the_notes(h186):
    import music21

    midi = to_midi(h186)
    assert midi.startswith(b"MThd")
    midi_file = music21.midi.MidiFile()
    midi_file.readstr(midi)
    notes = music21.midi.translate.midiFileToStream(midi_file).flatten().notes
    assert len(notes) > 20
    assert to_midi(music21.converter.parse(h186, format="musicxml")).startswith(b"MThd")


def test_full_measures_pass(h186):
    reports = measure_validity(h186)
    assert len(reports) == 7
    assert all(r.fills and r.verdict == "full" and r.expected == 4 for r in reports)


def test_under_and_overfull_measures_are_flagged(h186):
    root = ET.fromstring(h186)
    measures = root.findall("part/measure")
    # the last note (with its chord) belongs to the last voice: dropping or doubling it moves no other
    for note in _last_chord(measures[1]):
        measures[1].remove(note)
    measures[2].extend(copy.deepcopy(_last_chord(measures[2])))
    reports = measure_validity(root)
    assert reports[1].fills is False and reports[1].underfull == ("5",) and reports[1].voices["5"] < 4
    assert reports[2].fills is False and reports[2].overfull == ("5",) and reports[2].voices["5"] > 4
    assert reports[1].verdict == "underfull voices 5"
    assert [r.fills for r in reports[3:]] == [True] * 4


def _last_chord(measure):
    notes = measure.findall("note")
    start = max(i for i, note in enumerate(notes) if note.find("chord") is None)
    return notes[start:]


def test_measures_without_time_signature_are_not_judged():
    # Chopin's mazurka window prints no time signature
    reports = measure_validity(join_systems([GOLD["g000"]]))
    assert [r.fills for r in reports] == [None, None]
    assert "no time signature" in reports[0].verdict
    assert reports[0].voices["1"] == Fraction(3)


def test_invalid_musicxml_is_reported():
    assert validate_musicxml("<score-partwise version='4.0'><part-list/></score-partwise>")
    assert validate_musicxml("not xml")


def test_notes_without_a_staff_go_on_staff_one_and_still_make_music():
    """Model output often names no staff; music21 reads a two-staff part whose notes name none as no part."""
    import music21

    score = join_systems(["measure time beats:4 beat-type:4 C4 whole", "measure G4 eighth beam:begin A4 eighth beam:end"])
    assert validate_musicxml(score) == []
    parsed = music21.converter.parse(score, format="musicxml")
    assert len(parsed.parts) == 1
    assert [p.nameWithOctave for p in parsed.flatten().pitches] == ["C4", "G4", "A4"]
    assert len(to_midi(score)) > 60


def test_a_key_changed_inside_the_system_before_is_the_one_in_force():
    changed = "measure key:fifths:0 clef:G2 G4 whole measure key:fifths:3 C5 whole"
    opens_in_a = "measure key:fifths:3 clef:G2 A4 whole"
    assert lone_keys([changed, "measure key:fifths:0 clef:G2 C5 whole", opens_in_a])[0].neighbours_key == "key:fifths:3"
    assert lone_keys([changed, opens_in_a, opens_in_a]) == []
    assert lone_keys(["measure clef:G2 G4 whole"] * 3) == []  # no key read: nothing to compare


def test_keys_in_words():
    assert [key_in_words(f"key:fifths:{n}") for n in (-2, -1, 0, 1, 7)] == [
        "2 flats", "1 flat", "no sharps or flats", "1 sharp", "7 sharps"]
    assert key_in_words("key:fifths:x") == "key:fifths:x"
