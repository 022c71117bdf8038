"""Data engine: slicing ground truth, the image-vs-truth checks, corpus reductions, and tiny builds
(determinism, resume after an interrupt, stats, montage)."""
import json
import random
import re

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import Dataset, load_dataset
from PIL import Image

from training.data import checks, plan, render, slicing
from training.data.__main__ import main as data_main
from training.data.build import BuildConfig, build
from training.data.loaders import load_system_dataset
from training.data.mixing import make_mix
from training.data.montage import montage
from training.data.sources import corpus, grand_staff, reduction
from training.data.sources.procedural import generate_piece
from training.data.stats import report

CLEFS = '<clef number="1"><sign>G</sign><line>2</line></clef><clef number="2"><sign>F</sign><line>4</line></clef>'


def note(pitch, staff, voice, extra="", kind="quarter", duration=1):
    step, octave = pitch[0], pitch[-1]
    alter = {"#": "<alter>1</alter>", "b": "<alter>-1</alter>"}.get(pitch[1:-1], "")
    return (
        f"<note><pitch><step>{step}</step>{alter}<octave>{octave}</octave></pitch><duration>{duration}</duration>"
        f"<voice>{voice}</voice><type>{kind}</type><stem>up</stem><staff>{staff}</staff>{extra}</note>"
    )


def measure(number, upper, lower, attributes=""):
    return (
        f'<measure number="{number}">{attributes}{"".join(upper)}'
        f'<backup><duration>4</duration></backup>{"".join(lower)}</measure>'
    )


def score(*measures):
    return (
        '<score-partwise version="4.0"><part-list><score-part id="P1"><part-name>Piano</part-name>'
        f'</score-part></part-list><part id="P1">{"".join(measures)}</part></score-partwise>'
    )


QUARTERS = [note("C4", 1, 1)] * 4
BASS = [note("C3", 2, 5, kind="whole", duration=4)]
TIE_START = '<notations><tied type="start"/></notations>'
TIE_STOP = '<notations><tied type="stop"/></notations>'
THREE_MEASURES = score(
    measure(1, QUARTERS[:3] + [note("G4", 1, 1, TIE_START)], BASS,
            f"<attributes><divisions>1</divisions><key><fifths>2</fifths></key>"
            f"<time><beats>4</beats><beat-type>4</beat-type></time><staves>2</staves>{CLEFS}</attributes>"),
    measure(2, [note("G4", 1, 1, TIE_STOP)] + QUARTERS[:3], BASS,
            '<attributes><clef number="2"><sign>G</sign><line>2</line></clef></attributes>'),
    measure(3, QUARTERS, [note("C4", 2, 5, kind="whole", duration=4)]),
)  # fmt: skip


def truth(musicxml, start, stop):
    part = slicing.read_part(musicxml)
    return slicing.system_score(part, start, stop, slicing.states_at_measure_starts(part)[start])


def test_system_start_restates_key_and_clefs_but_not_time():
    lmx = slicing.linearize(slicing.to_string(truth(THREE_MEASURES, 1, 3)))
    assert lmx.startswith("measure key:fifths:2 clef:G2 staff:1 clef:G2 staff:2 G4 voice:1 quarter")
    assert "time" not in lmx.split()
    assert "tied:stop" in lmx.split()  # the tie from the previous system is kept
    assert lmx.split().count("measure") == 2


def test_first_system_keeps_its_time_signature_and_open_tie():
    lmx = slicing.linearize(slicing.to_string(truth(THREE_MEASURES, 0, 1))).split()
    assert lmx[:5] == ["measure", "key:fifths:2", "time", "beats:4", "beat-type:4"]
    assert lmx.count("tied:start") == 1 and "tied:stop" not in lmx


def test_slicing_leaves_the_piece_unchanged():
    part = slicing.read_part(THREE_MEASURES)
    before = slicing.to_string(part)
    slicing.system_score(part, 1, 3, slicing.states_at_measure_starts(part)[1])
    assert slicing.to_string(part) == before


def rendered(measures, notes=8, rests=0, clipped=False, svg_measures=None):
    return render.RenderedSystem(
        image=Image.new("L", (4, 4), 255), measures=measures, svg_measure_count=svg_measures or len(measures),
        note_count=notes, rest_count=rests, clipped=clipped, crop_margins=(0, 0, 0, 0),
    )  # fmt: skip


def test_checks_name_each_kind_of_mismatch():
    assert "clipped" in checks.measure_mismatch(rendered([0], clipped=True))
    assert "consecutive" in checks.measure_mismatch(rendered([0, 2]))
    assert "of them ours" in checks.measure_mismatch(rendered([0, 1], svg_measures=3))
    assert checks.measure_mismatch(rendered([1, 2])) is None
    system = truth(THREE_MEASURES, 1, 3)
    lmx = slicing.linearize(slicing.to_string(system))
    assert checks.truth_mismatch(rendered([1, 2], notes=10), system, lmx) is None
    assert "notes: image 9, truth 10" == checks.truth_mismatch(rendered([1, 2], notes=9), system, lmx)
    assert "rests" in checks.truth_mismatch(rendered([1, 2], notes=10, rests=1), system, lmx)


def test_rendered_systems_cover_the_piece_and_pass_the_checks():
    musicxml = generate_piece(3, difficulty=0.4, n_measures=6)
    systems = render.render_piece(musicxml, render.Engraving(page_width=900), random.Random(0))
    assert [m for s in systems for m in s.measures] == list(range(6))
    part = slicing.read_part(musicxml)
    for system in systems:
        assert checks.measure_mismatch(system) is None
        score_element = truth(musicxml, system.measures[0], system.measures[-1] + 1)
        lmx = slicing.linearize(slicing.to_string(score_element))
        assert checks.truth_mismatch(system, score_element, lmx) is None
        assert system.image.mode == "L"
    assert len(part.findall("measure")) == 6


def test_merged_staves_print_the_accidentals_a_reader_needs():
    # soprano F#4 on beat 1, alto F4 on beat 2: the alto needs a natural on the shared staff
    measure_element = slicing.parse(
        '<measure number="1">'
        + note("F#4", 1, 1, kind="half", duration=2) + "<backup><duration>1</duration></backup>"
        + note("F4", 1, 2, kind="quarter", duration=1) + "</measure>"
    )  # fmt: skip
    reduction.respell_accidentals(measure_element, fifths=0)
    assert [n.findtext("accidental") for n in measure_element.findall("note")] == ["sharp", "natural"]


def test_chorale_reduction_uses_four_voices_on_two_staves():
    musicxml = corpus.load_piece("bach/bwv10.7.mxl", random.Random(0), max_measures=4)
    part = slicing.read_part(musicxml)
    assert len(part.findall("measure")) == 4
    notes = [n for n in part.iter("note") if n.find("rest") is None]
    seen = {(n.findtext("voice"), n.findtext("staff"), n.findtext("stem")) for n in notes}
    assert {(v, s) for v, s, _ in seen} == {("1", "1"), ("2", "1"), ("5", "2"), ("6", "2")}
    assert all(stem == {"1": "up", "2": "down", "5": "up", "6": "down"}[v] for v, _, stem in seen if stem)
    assert slicing.linearize(musicxml).startswith("measure key:fifths:")


def test_piano_voices_are_renumbered_per_staff():
    measure_element = slicing.parse(
        '<measure number="1">' + note("C5", 1, 3) + "<backup><duration>1</duration></backup>"
        + note("C3", 2, 1) + "<backup><duration>1</duration></backup>" + note("E3", 2, 2) + "</measure>"
    )  # fmt: skip
    grand_staff.renumber_voices(measure_element)
    assert [n.findtext("voice") for n in measure_element.findall("note")] == ["1", "5", "6"]


def test_reserved_pieces_never_reach_train_or_dev():
    reserved = {corpus.piece_key(path) for path in corpus.reserved_paths()}
    for source in corpus.SOURCES:
        for split in ("train", "dev"):
            assert not reserved & {corpus.piece_key(path) for path in corpus.pieces(source, split)}
    assert all(unit.split == "test" for unit in plan.test_units(0))


def test_the_example_pages_pieces_are_never_trained_on():
    from training.batches.splits import without_example_pieces

    examples = corpus.example_keys()
    assert not examples & {corpus.piece_key(path) for path in corpus.pieces("corpus-piano", "train")}
    assert not examples & {corpus.piece_key(path) for path in corpus.pieces("chorale", "train")}
    assert corpus.split_of("schumann_clara/polonaise_op1n2.mxl") == "dev"
    built_before = Dataset.from_dict({"piece_id": ["bach/bwv1.6.mxl", "bach/bwv2.6.mxl",
                                                    "schumann_clara/polonaise_op1n2.mxl"], "lmx": ["a", "b", "c"]})
    assert without_example_pieces(built_before)["lmx"] == ["b"]


def test_units_are_a_function_of_seed_split_and_index():
    mix = plan.DEFAULT_MIX
    assert plan.plan_unit(0, mix, "train", 7) == plan.plan_unit(0, mix, "train", 7)
    assert plan.plan_unit(0, mix, "train", 7) != plan.plan_unit(1, mix, "train", 7)
    assert plan.parse_mix("procedural=3,chorale=1") == {"procedural": 3.0, "chorale": 1.0}
    with pytest.raises(ValueError):
        plan.parse_mix("opera=1")


TINY = BuildConfig(systems=24, seed=5, mix={"procedural": 3, "chorale": 1}, units_per_shard=2, test_pieces=1)


def rows_of(folder):
    return {
        path.name: pq.read_table(path, columns=["lmx", "image", "piece_id"]).to_pylist()
        for path in sorted((folder / "data").glob("*.parquet"))
    }


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    counts = build(folder, TINY, workers=1)
    return folder, counts


def test_build_writes_a_dataset_with_our_splits(tiny_build):
    folder, counts = tiny_build
    assert counts["train"] + counts["dev"] == 24 and counts["dev"] == 1 and counts["test"] > 0
    dataset = load_dataset(str(folder))
    assert set(dataset) == {"train", "dev", "test"}
    row = dataset["train"][0]
    assert row["image"].mode == "L" and row["lmx"].startswith("measure")
    assert set(dataset["test"]["piece_id"]) == {corpus.reserved_paths()[0]}
    train_pieces, dev_pieces = set(dataset["train"]["piece_id"]), set(dataset["dev"]["piece_id"])
    assert not train_pieces & dev_pieces


def test_build_is_deterministic_and_resumes(tiny_build, tmp_path):
    folder, _ = tiny_build
    again = tmp_path / "again"
    build(again, TINY, workers=2)
    assert rows_of(again) == rows_of(folder)  # another worker count, the same rows
    # an interrupt: one shard lost its manifest (so counts as not done), another left a temporary file
    (again / "manifest" / "train-00001.json").unlink()
    (again / "data" / "train-00002.parquet.tmp").write_bytes(b"half a file")
    kept = again / "data" / "train-00000.parquet"
    mtime = kept.stat().st_mtime_ns
    build(again, TINY, workers=1)
    assert rows_of(again) == rows_of(folder)
    assert kept.stat().st_mtime_ns == mtime  # done shards are not made again
    with pytest.raises(SystemExit):
        build(again, BuildConfig(systems=25, seed=5), workers=1)


def test_stats_and_montage(tiny_build, tmp_path):
    folder, _ = tiny_build
    text = report(folder)
    assert "train: 23 systems" in text and "vocabulary coverage" in text and "never produced" in text
    pitch_share = re.search(r"source procedural: [\d.]+% of \d+ / ([\d.]+)% of", text)
    assert pitch_share and float(pitch_share.group(1)) >= 98 and "without a box" in text
    out = tmp_path / "montage.png"
    montage(folder, out, n=2, columns=1)
    assert Image.open(out).height > 100
    montage(folder, out, n=2, columns=1, boxes=True)
    coloured = np.asarray(Image.open(out).convert("RGB"), dtype=int)
    red = (coloured[..., 0] > 180) & (coloured[..., 1] < 80) & (coloured[..., 2] < 80)
    assert red.sum() > 50  # the noteheads' boxes are drawn


def test_mix_links_builds_train_shards_beside_one_builds_dev_and_test(tiny_build, tmp_path, capsys):
    folder, counts = tiny_build
    second = tmp_path / "second"
    (second / "data").mkdir(parents=True)
    for shard in (folder / "data").glob("train-*.parquet"):
        (second / "data" / shard.name).symlink_to(shard)  # a second build with the same rows, renamed
    data_main(["mix", str(folder), str(second), "--eval-from", str(folder), "--out", str(tmp_path / "mix")])
    assert "shards linked" in capsys.readouterr().out
    mixed = load_system_dataset(tmp_path / "mix")
    assert len(mixed["train"]) == 2 * counts["train"]
    assert len(mixed["dev"]) == counts["dev"] and len(mixed["test"]) == counts["test"]
    assert "dev and test" in (tmp_path / "mix" / "README.md").read_text()
    recorded = json.loads((tmp_path / "mix" / "mix.json").read_text())
    assert recorded == {"train": [str(folder.resolve()), str(second.resolve())], "eval_from": str(folder.resolve())}

    with pytest.raises(FileExistsError, match="not empty"):
        make_mix(tmp_path / "mix", [folder], folder)
    with pytest.raises(ValueError, match="share a folder name"):
        make_mix(tmp_path / "twice", [folder, folder], folder)
    with pytest.raises(FileNotFoundError, match="not an engine build"):
        make_mix(tmp_path / "missing", [tmp_path / "nowhere"], folder)
    with pytest.raises(FileNotFoundError, match="no dev shards"):
        make_mix(tmp_path / "no-dev", [folder], second)
