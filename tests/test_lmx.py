"""linearize / delinearize on the gold systems, the input kinds, and the edge cases of delinearize."""
import time
import xml.etree.ElementTree as ET
import zipfile

import pytest
from lmx.linearization.vocabulary import NOTE_ROOT_TOKENS
from lmx.symbolic.part_to_score import part_to_score

from acai_hf import DelinearizationError, delinearize, linearize
from acai_hf.music.delinearization import MAX_TOKENS
from acai_hf.music.lmx import measure_lines
from acai_hf.music.musicxml_schema import validate_musicxml


def _without_whole_note_stems(tokens):
    """lmx's Delinearizer writes no <stem> on whole notes, so their stem tokens do not survive it."""
    kept, root = [], None
    for token in tokens:
        if token in NOTE_ROOT_TOKENS:
            root = token
        if not (token.startswith("stem:") and root == "whole"):
            kept.append(token)
    return kept


def _score(part):
    return part_to_score(part, part_id="P1", musicxml_version="4.0")


def test_linearize_gives_the_gold_lmx(gold_systems):
    # The README: every gold LMX is the lmx Linearizer's output for its gold MusicXML.
    assert [linearize(xml) for xml, _ in gold_systems] == [lmx for _, lmx in gold_systems]


def test_round_trip_keeps_the_tokens(gold_systems):
    changed = []
    for xml, gold_lmx in gold_systems:
        tokens = linearize(xml).split()
        part, errors = delinearize(" ".join(tokens))
        again = linearize(_score(part)).split()
        assert _without_whole_note_stems(again) == _without_whole_note_stems(tokens)
        if again != tokens:
            changed.append(gold_lmx)
    # only the one gold with a stemmed whole note loses a token
    assert len(changed) == 1 and "whole stem:up" in changed[0]


def test_delinearized_golds_are_valid_musicxml(gold_systems):
    for _, lmx in gold_systems:
        part, errors = delinearize(lmx)
        assert all(e.severity == "minor" for e in errors)
        assert validate_musicxml(_score(part)) == []
        assert [m.get("number") for m in part] == [str(n) for n in range(1, lmx.split().count("measure") + 1)]
        assert part.find("measure/attributes/divisions") is not None


def test_measure_lines_put_each_measure_on_its_own_line(gold_systems):
    for _, lmx in gold_systems:
        lines = measure_lines(lmx).split("\n")
        assert len(lines) == lmx.split().count("measure")
        assert all(line.split()[0] == "measure" and line.split().count("measure") == 1 for line in lines)
        assert " ".join(lines) == lmx  # the same tokens: whitespace means nothing in LMX
    assert measure_lines("clef:G2 staff:1  measure  C4\tmeasure") == "clef:G2 staff:1\nmeasure C4\nmeasure"
    assert measure_lines("") == ""

def test_linearize_reads_every_input_kind(gold_systems, tmp_path):
    import music21

    xml, lmx = gold_systems[0]
    (tmp_path / "a.musicxml").write_text(xml, encoding="utf-8")
    with zipfile.ZipFile(tmp_path / "a.mxl", "w") as archive:
        archive.writestr("META-INF/container.xml",
                         '<container><rootfiles><rootfile full-path="score.musicxml"/></rootfiles></container>')
        archive.writestr("score.musicxml", xml)
    root = ET.fromstring(xml)
    for source in [xml, xml.encode(), str(tmp_path / "a.musicxml"), tmp_path / "a.mxl",
                   root, ET.ElementTree(root), root.find("part")]:
        assert linearize(source) == lmx
    assert ET.tostring(root) == ET.tostring(ET.fromstring(xml))  # the caller's tree is left alone
    # music21 numbers voices its own way (staff 2 gets voice 2 here): renumbered to 5
    assert linearize(music21.converter.parse(xml, format="musicxml")) == lmx


def test_linearize_rejects_what_is_not_one_part(gold_systems):
    xml, _ = gold_systems[0]
    root = ET.fromstring(xml)
    second = ET.fromstring(xml).find("part")
    root.append(second)
    for bad in [root, "<html/>", "<score-partwise", "no such file.musicxml", 42]:
        with pytest.raises(ValueError):
            linearize(bad)


def test_tokens_before_the_first_measure_are_dropped_not_fatal(gold_systems):
    _, lmx = gold_systems[0]
    part, errors = delinearize("C4 quarter clef:G2 " + lmx)
    assert [(e.severity, e.position) for e in errors] == [("minor", 0), ("minor", 1), ("minor", 2)]
    assert ET.tostring(part) == ET.tostring(delinearize(lmx)[0])


@pytest.mark.parametrize("lmx", ["", "   ", "garbage tokens only", "C4 quarter staff:1"])
def test_no_measure_is_catastrophic(lmx):
    part, errors = delinearize(lmx)
    assert part.tag == "part" and len(part) == 0
    assert "catastrophic" in [e.severity for e in errors]
    assert all(isinstance(e, DelinearizationError) for e in errors)


def test_unknown_tokens_are_skipped():
    part, errors = delinearize("measure C4 quarter bogus D4 quarter")
    assert [(e.severity, e.position) for e in errors] == [("minor", 3)]
    assert [n.findtext("pitch/step") for n in part.iter("note")] == ["C", "D"]


def test_non_strings_are_a_type_error():
    for bad in [None, b"measure C4 quarter", ["measure"]]:
        with pytest.raises(TypeError):
            delinearize(bad)


@pytest.mark.parametrize("lmx", [
    "measure forward rest:measure forward quarter",  # crashes lmx's Delinearizer
    "measure backup rest:measure backup rest:measure quarter",
    "measure quarter voice:1 C4 chord",  # a note with neither pitch nor rest
    "measure C4 quarter " + "beam:begin " * 12 + "slur:start " * 20,  # beyond MusicXML's numbers
    "measure measure time beats:3 measure",
])
def test_malformed_input_still_gives_valid_musicxml(lmx):
    part, errors = delinearize(lmx)
    assert all(e.severity == "minor" for e in errors)
    assert validate_musicxml(_score(part)) == []


def test_a_third_staff_folds_into_the_grand_staff():
    part, errors = delinearize("measure clef:G2 staff:3 C4 voice:9 quarter staff:3 D4 quarter")
    assert {s.text for s in part.iter("staff")} | {c.get("number") for c in part.iter("clef")} == {"2"}
    assert [e.position for e in errors] == [1, 5, 8]  # the staff carries on to the next note


def test_measure_rest_without_time_signature_fills_the_measure():
    part, errors = delinearize("measure rest voice:1 rest:measure backup half backup quarter C3 voice:5 half dot")
    durations = [int(n.findtext("duration")) for n in part.iter("note")]
    assert durations == [3, 3] and part.findtext("measure/attributes/divisions") == "1"
    assert [(e.severity, e.position) for e in errors] == [("minor", 3)]


def test_huge_input_is_truncated_quickly():
    start = time.perf_counter()
    part, errors = delinearize("measure " + "C4 quarter sharp " * 100_000)
    assert time.perf_counter() - start < 30
    assert any(e.position == MAX_TOKENS for e in errors)
    assert len(part) == 1
