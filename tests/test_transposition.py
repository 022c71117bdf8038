"""Corpus excerpts moved to another key: exact spelling, the engraver's accidentals renamed, the plan's
draws, and a transposed excerpt rendered into rows whose LMX states the new key."""
import json
import random

import pytest

from training.data import pipeline, plan, slicing
from training.data.build import BuildConfig, check_settings
from training.data.sources import corpus, grand_staff, transposition
from training.data.sources.procedural_pitch import Pitch


def pitches(part):
    return [
        Pitch(p.findtext("step"), int(float(p.findtext("alter", "0"))), int(p.findtext("octave")))
        for p in part.iter("pitch")
    ]


def keys(part):
    return [int(key.findtext("fifths")) for key in part.iter("key")]


def accidentals(part):
    return [(n.findtext("accidental"), n.findtext("pitch/alter", "0")) for n in part.iter("note")]


@pytest.fixture(scope="module")
def excerpt():
    """Twelve measures of C. P. E. Bach's H 186 (a training piece, A major, printed accidentals)."""
    return grand_staff.piano_part(corpus.read_score("cpebach/h186.mxl"), 0, 12)


@pytest.mark.parametrize("semitones", transposition.SEMITONES)
def test_every_pitch_moves_by_the_interval_and_back(excerpt, semitones):
    moved = transposition.transposed(excerpt, semitones)
    assert moved is not None
    assert [p.midi for p in pitches(moved)] == [p.midi + semitones for p in pitches(excerpt)]
    shift = transposition.fifths_shift(semitones, keys(excerpt))
    assert keys(moved) == [key + shift for key in keys(excerpt)] and all(abs(k) <= 7 for k in keys(moved))
    # printed accidentals stay where the engraver put them, named after the new alteration
    for accidental, alter in accidentals(moved):
        if accidental is not None:
            assert accidental == {"-2": "flat-flat", "-1": "flat", "0": "natural", "1": "sharp"}.get(alter, "double-sharp")
    assert [a is None for a, _ in accidentals(moved)] == [a is None for a, _ in accidentals(excerpt)]
    back = transposition.transposed(moved, -semitones)
    assert pitches(back) == pitches(excerpt) and keys(back) == keys(excerpt)
    assert accidentals(back) == [(a, alter) for a, alter in accidentals(excerpt)]
    assert pitches(excerpt)[0] == Pitch("C", 1, 5)  # the source part is left as it was


def test_the_spelling_with_fewest_sharps_or_flats_is_chosen():
    assert transposition.fifths_shift(1, [0]) == -5  # C major up a semitone: D flat, not C sharp
    assert transposition.fifths_shift(-1, [0]) == 5  # down a semitone: B, not C flat
    assert transposition.fifths_shift(2, [3]) == 2  # A up a tone: B major
    assert transposition.fifths_shift(1, [7, -7]) is None  # no key change fits both signatures


def test_a_natural_against_the_key_becomes_the_accidental_the_new_key_needs():
    # G major, F sharp (from the key) then F natural (printed); up a semitone to A flat major
    part = slicing.parse(
        '<part id="P1"><measure number="1"><attributes><key><fifths>1</fifths></key></attributes>'
        "<note><pitch><step>F</step><alter>1</alter><octave>4</octave></pitch><type>quarter</type></note>"
        "<note><pitch><step>F</step><octave>4</octave></pitch><type>quarter</type>"
        "<accidental>natural</accidental></note></measure></part>"
    )
    moved = transposition.transposed(part, 1)
    assert keys(moved) == [-4]
    assert pitches(moved) == [Pitch("G", 0, 4), Pitch("G", -1, 4)]
    assert [n.findtext("accidental") for n in moved.iter("note")] == [None, "flat"]


def test_parts_that_cannot_be_spelled_stay_as_written():
    no_key = slicing.parse('<part id="P1"><measure number="1"><note><pitch><step>C</step>'
                           "<octave>4</octave></pitch><type>whole</type></note></measure></part>")
    assert transposition.transposed(no_key, 2) is None
    top = slicing.parse('<part id="P1"><measure number="1"><attributes><key><fifths>0</fifths></key></attributes>'
                        "<note><pitch><step>B</step><octave>7</octave></pitch><type>whole</type></note></measure></part>")
    assert transposition.transposed(top, 2) is None  # C sharp 8 is off the piano
    musicxml = corpus.load_piece("cpebach/h186.mxl", random.Random(0), max_measures=4, semitones=0)
    assert slicing.linearize(musicxml).startswith("measure key:fifths:3")


def test_the_plan_moves_only_train_corpus_excerpts_and_keeps_older_builds():
    mix = {"procedural": 1.0, "corpus-piano": 1.0, "chorale": 1.0}
    for index in range(40):
        unmoved = plan.plan_unit(3, mix, "train", index)
        assert unmoved.semitones == 0 and plan.plan_unit(3, mix, "train", index, 0.0) == unmoved
        moved = plan.plan_unit(3, mix, "train", index, 1.0)
        # the draw comes last: the piece, excerpt and engraving stay those of a build without it
        assert (moved.piece, moved.seed, moved.max_measures) == (unmoved.piece, unmoved.seed, unmoved.max_measures)
        assert (moved.semitones != 0) == (moved.source != "procedural")
        assert plan.plan_unit(3, mix, "dev", index, 1.0).semitones == 0


def test_a_build_made_before_the_setting_resumes(tmp_path):
    settings = BuildConfig(systems=10, seed=2).__dict__.copy()
    del settings["transpose"]
    (tmp_path / "build.json").write_text(json.dumps(settings))
    check_settings(tmp_path, BuildConfig(systems=10, seed=2))  # the missing setting reads as its default
    with pytest.raises(SystemExit):
        check_settings(tmp_path, BuildConfig(systems=10, seed=2, transpose=0.5))
    with pytest.raises(ValueError, match="from 0 to 1"):
        BuildConfig(systems=10, transpose=1.5)


def test_a_transposed_excerpt_renders_into_rows_in_the_new_key():
    unit = plan.Unit("train", 0, "corpus-piano", "cpebach/h186.mxl", seed=11, max_measures=3, semitones=-2)
    rows, _ = pipeline.piece_systems(plan.unit_musicxml(unit), seed=unit.seed, piece_id=unit.piece_id,
                                     source=unit.source)
    assert rows and all(row["lmx"].startswith("measure key:fifths:1 ") for row in rows)  # A major down a tone: G
