"""SER and TEDn against the reference vectors (values computed by the OLiMPiC reference code)."""
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from acai_hf.metrics import load_metric
from acai_hf.metrics.ser import corpus_ser, ser
from acai_hf.metrics.tedn import corpus_tedn, tedn, tedn_batch
from acai_hf.metrics.tedn_parts import _parse_stripped

FLAVORS = ("lmx", "full")
# Σ edit, Σ gold from the table in shared/reference/README.md
CORPUS_TOTALS = {"lmx": (10945, 63422), "full": (13132, 65622)}
SER_TOTALS = (3586, 32125)


@pytest.fixture(scope="module")
def single_results(vectors):
    """Per-case TEDn computed one call at a time, for both flavours."""
    return {
        flavor: [tedn(case["pred_lmx"], case["gold_musicxml"], flavor) for case in vectors]
        for flavor in FLAVORS
    }


def _columns(vectors):
    return [c["pred_lmx"] for c in vectors], [c["gold_musicxml"] for c in vectors]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_tedn_matches_every_reference_case(vectors, single_results, flavor):
    mismatches = [
        (case["id"], tuple(result), case[f"tedn_{flavor}"])
        for case, result in zip(vectors, single_results[flavor])
        if (result.edit_cost, result.gold_cost)
        != (case[f"tedn_{flavor}"]["edit_cost"], case[f"tedn_{flavor}"]["gold_cost"])
        or abs(result.value - case[f"tedn_{flavor}"]["value"]) > 1e-9
    ]
    assert mismatches == []


def test_tedn_reports_delinearizer_crashes_like_the_reference(vectors, single_results):
    crashed = [result.delinearizer_crashed for result in single_results["lmx"]]
    assert crashed == [case["ref_delinearizer_crashed"] for case in vectors]


def test_ser_matches_every_reference_case(vectors):
    for case in vectors:
        assert tuple(ser(case["pred_lmx"], case["gold_lmx"])) == pytest.approx(
            (case["ser"]["distance"], case["ser"]["gold_len"], case["ser"]["value"]), abs=1e-12
        ), case["id"]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_corpus_tedn_is_the_micro_average_of_the_readme(vectors, flavor):
    result = corpus_tedn(*_columns(vectors), flavor=flavor, workers=2)
    edit, gold = CORPUS_TOTALS[flavor]
    assert (result.edit_cost, result.gold_cost) == (edit, gold)
    assert result.value == pytest.approx(edit / gold, abs=1e-12)
    assert result.delinearizer_crashed  # some vectors crash on purpose


def test_corpus_ser_is_the_micro_average_of_the_readme(vectors):
    result = corpus_ser([c["pred_lmx"] for c in vectors], [c["gold_lmx"] for c in vectors])
    assert (result.distance, result.gold_len) == SER_TOTALS
    assert result.value == pytest.approx(SER_TOTALS[0] / SER_TOTALS[1], abs=1e-12)


def test_tedn_batch_equals_single_calls(vectors, single_results):
    subset = vectors[:24]
    assert tedn_batch(*_columns(subset), workers=2) == single_results["lmx"][:24]
    assert tedn_batch(*_columns(subset), workers=1) == single_results["lmx"][:24]


def test_evaluate_modules_load_offline_and_give_the_corpus_values(vectors):
    predictions, golds = _columns(vectors)
    tedn_scores = load_metric("lmx_tedn").compute(
        predictions=predictions, references=golds, workers=2
    )
    edit, gold = CORPUS_TOTALS["lmx"]
    assert (tedn_scores["edit_cost"], tedn_scores["gold_cost"]) == (edit, gold)
    assert tedn_scores["tedn"] == pytest.approx(edit / gold, abs=1e-12)

    ser_scores = load_metric("lmx_ser").compute(
        predictions=predictions, references=[c["gold_lmx"] for c in vectors]
    )
    assert (ser_scores["distance"], ser_scores["gold_len"]) == SER_TOTALS
    assert ser_scores["ser"] == pytest.approx(SER_TOTALS[0] / SER_TOTALS[1], abs=1e-12)


def test_importing_the_metrics_package_does_not_import_evaluate():
    code = "import sys, acai_hf.metrics; sys.exit('evaluate' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize(
    "prediction",
    ["", " \n\t ", "no such tokens here", "clef:G2 measure", "clef:G2 staff:1 C4 quarter"],
    ids=["empty", "whitespace", "garbage", "token-before-measure", "no-measure"],
)
def test_a_prediction_with_nothing_usable_costs_the_whole_gold(gold_systems, prediction):
    gold_musicxml, gold_lmx = gold_systems[0]
    result = tedn(prediction, gold_musicxml)
    assert result.edit_cost == result.gold_cost > 0
    assert result.value == 1.0
    # only a valid token before the first `measure` (or no `measure` at all) crashes
    assert result.delinearizer_crashed == prediction.startswith("clef")


def test_ser_counts_unknown_tokens_and_empty_predictions(gold_systems):
    _, gold_lmx = gold_systems[0]
    gold_len = len(gold_lmx.split())
    assert ser("", gold_lmx) == (gold_len, gold_len, 1.0)
    assert ser(gold_lmx + " bogus", gold_lmx).distance == 1


def test_an_exact_prediction_of_a_round_trip_gold_scores_zero(vectors):
    case = next(c for c in vectors if c["id"] == "r043_exact")
    assert tedn(case["gold_lmx"], case["gold_musicxml"]).edit_cost == 0


def test_fast_gold_parsing_gives_the_canonicalized_tree(gold_systems):
    def elements(root):
        return [(e.tag, e.text, e.attrib) for e in root.iter()]

    for gold_musicxml, _ in gold_systems:
        canonical = ET.fromstring(ET.canonicalize(gold_musicxml, strip_text=True))
        assert elements(_parse_stripped(gold_musicxml)) == elements(canonical)


def test_unknown_flavor_is_rejected(gold_systems):
    with pytest.raises(ValueError, match="flavor"):
        tedn("", gold_systems[0][0], flavor="pruned")


def test_signatures_judge_the_opening_key_and_time_only_where_the_gold_prints_them():
    from acai_hf.metrics.signatures import opening_signatures, signature_accuracy

    first = "measure key:fifths:-1 time beats:3 beat-type:4 clef:G2 staff:1 F4 voice:1 half. measure key:fifths:0"
    later = "measure key:fifths:-1 clef:G2 staff:1 F4 voice:1 half."
    assert opening_signatures(first).key == "key:fifths:-1" and opening_signatures(first).time == "3/4"
    assert opening_signatures(later).time is None and opening_signatures("").key is None
    four_four = first.replace("beats:3", "beats:4")
    sharp = later.replace("fifths:-1", "fifths:1")
    result = signature_accuracy([four_four, sharp, first], [first, later, later])
    assert result["key_right"] == 2 / 3 and result["keys_judged"] == 3
    assert result["time_right"] == 0.0 and result["times_judged"] == 1
    assert result["time_right_not_4_4"] == 0.0 and result["times_not_4_4_judged"] == 1  # the gold is 3/4
    always_common = signature_accuracy([four_four, four_four], [four_four, first])
    assert always_common["time_right"] == 0.5 and always_common["time_right_not_4_4"] == 0.0
    assert result["time_invented"] == 1 / 2  # the third prediction prints a time signature the page has not
    assert signature_accuracy([later], [later])["time_right"] is None


def test_clef_changes_are_the_clefs_after_a_systems_opening():
    from acai_hf.metrics.clef_changes import clef_change_accuracy, clef_change_positions, clef_changes, opening_length

    gold = ("measure key:fifths:0 time beats:4 beat-type:4 clef:G2 staff:1 clef:F4 staff:2 C4 voice:1 half staff:1 "
            "backup half C3 voice:5 quarter staff:2 clef:G2 staff:2 C4 quarter staff:2 measure clef:F4 staff:2 "
            "C3 voice:5 whole staff:2")
    tokens = gold.split()
    assert tokens[opening_length(tokens)] == "C4" and opening_length(["measure", "key:fifths:0"]) == 2
    assert [tokens[i + 1] for i in clef_change_positions(tokens)] == ["staff:2", "staff:2"]
    assert clef_changes(gold) == {("clef:G2", "staff:2"): 1, ("clef:F4", "staff:2"): 1}
    missed = gold.replace(" clef:G2 staff:2 C4", " C4")  # the opening's clef:G2 staff:1 stays
    wrong_staff = gold.replace("clef:G2 staff:2 C4", "clef:G2 staff:1 C4")
    result = clef_change_accuracy([missed, wrong_staff, gold], [gold, gold, gold])
    assert result["clef_changes_gold"] == 6 and result["clef_changes_written"] == 5
    assert result["clef_changes_read"] == 4 / 6 and result["clef_changes_right"] == 4 / 5
    assert clef_change_accuracy(["measure clef:G2 staff:1"], ["measure clef:G2 staff:1"])["clef_changes_read"] is None


def test_pitch_errors_are_measured_in_staff_positions():
    from acai_hf.metrics.pitch_errors import pitch_error_distances, staff_position, substituted_pitches

    assert staff_position("C4") - staff_position("B3") == 1 and staff_position("C5") - staff_position("C4") == 7
    gold = "measure clef:G2 staff:1 C4 voice:1 quarter E4 quarter G4 quarter chord C5 quarter"
    prediction = "measure clef:G2 staff:1 D4 voice:1 quarter E4 quarter G3 quarter chord A5 quarter"
    assert substituted_pitches(prediction, gold) == [1, -7, 5]
    result = pitch_error_distances([prediction, gold], [gold, gold])
    assert result["pitch_substitutions"] == 3 and result["pitch_off_one_step"] == 1 / 3
    assert result["pitch_off_octave"] == 1 / 3 and result["pitch_off_other"] == 1 / 3
    assert result["pitch_off_two_steps"] == 0.0
    assert pitch_error_distances([gold], [gold])["pitch_off_one_step"] is None  # nothing wrong, nothing to share out



def test_pitch_places_follow_staff_and_clef_and_misses_are_counted_per_place():
    from acai_hf.metrics.pitch_errors import bottom_line, pitch_misses_by_place, pitch_places

    assert bottom_line("clef:G2") == 30 and bottom_line("clef:F4") == 18 and bottom_line("clef:C3") == 24  # E4 G2 F3
    # C4 is a ledger line below the treble staff, D4 the space under it; G4 chord-added; the bass voice
    # says staff:2 once and its next note inherits it: A3 is the bass staff's top line, C4 its first ledger line
    gold = ("measure clef:G2 staff:1 clef:F4 staff:2 C4 voice:1 quarter staff:1 D4 quarter chord G4 quarter "
            "A5 quarter backup whole A3 voice:5 half staff:2 C4 half")
    assert pitch_places(gold) == [("C4", "ledger"), ("D4", "staff"), ("G4", "chord"), ("A5", "ledger"),
                                  ("A3", "staff"), ("C4", "ledger")]
    # a clef change on a staff moves the lines: after clef:G2 on staff 2, C4 is again below it
    assert pitch_places("measure clef:G2 staff:2 C4 voice:5 quarter staff:2")[0] == ("C4", "ledger")
    assert pitch_places("measure clef:C3 staff:1 F3 voice:1 quarter staff:1")[0] == ("F3", "staff")
    prediction = ("measure clef:G2 staff:1 clef:F4 staff:2 C4 voice:1 quarter staff:1 E4 quarter "
                  "A5 quarter backup whole A3 voice:5 half staff:2 B3 half")  # D4 misread, chord G4 left out, C4 misread
    result = pitch_misses_by_place([prediction], [gold])
    assert result["staff"] == {"gold": 2, "missed": 1 / 2}
    assert result["ledger"] == {"gold": 3, "missed": 1 / 3}
    assert result["chord"] == {"gold": 1, "missed": 1.0}
    assert pitch_misses_by_place([gold], [gold])["chord"]["missed"] == 0.0
    assert pitch_misses_by_place([""], ["measure rest voice:1 whole staff:1"])["staff"]["missed"] is None

def test_ser_by_kind_charges_each_edit_to_one_kind_and_the_parts_add_up_to_the_ser():
    from acai_hf.metrics.error_kinds import ser_by_kind
    from acai_hf.metrics.ser import corpus_ser

    gold = ["measure clef:G2 staff:1 C4 voice:1 quarter sharp E4 quarter G4 half",
            "measure B3 voice:1 whole tied:start"]
    predicted = ["measure clef:G2 staff:1 D4 voice:1 quarter E4 eighth staccato G4 half",  # pitch, accidental
                 "measure B3 voice:1 whole"]                                       # missed, duration, extra; tie missed
    parts = ser_by_kind(predicted, gold)
    assert parts["pitch"]["part"] == 1 / 16 and parts["pitch"]["gold"] == 4
    assert parts["accidental"]["part"] == 1 / 16 and parts["duration"]["part"] == 1 / 16
    assert parts["articulation and slur"]["part"] == 1 / 16 and parts["articulation and slur"]["gold"] == 0
    assert parts["tie"]["part"] == 1 / 16 and parts["measure"]["part"] == 0.0
    assert sum(part["part"] for part in parts.values()) == pytest.approx(corpus_ser(predicted, gold).value)
    assert ser_by_kind([], [])["pitch"] == {"part": 0.0, "gold": 0}
