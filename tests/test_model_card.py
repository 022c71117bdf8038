"""training.release.model_card's account of training: the chain of runs the shipped weights went through, and the
last run's schedule."""
import json
from pathlib import Path

import pytest

from training.release.lineage import lineage
from training.release.model_card import batch_phrase, hardware_line, lr_schedule_phrase


def make_run(folder, init_from=None, steps=10, batch_size=8, seconds_per_step=2.0):
    folder.mkdir(parents=True)
    (folder / "args.json").write_text(json.dumps({"init_from": init_from and str(init_from), "batch_size": batch_size}))
    rows = ["step,ce,elapsed_s"] + [f"{s},1.0,{s * seconds_per_step}" for s in range(1, steps + 1)]
    (folder / "train.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_lineage_follows_init_from_back_to_the_first_run(tmp_path):
    first = make_run(tmp_path / "first", steps=10)
    second = make_run(tmp_path / "second", first / "checkpoints" / "step-0000008", steps=12)
    (second / "best").mkdir()
    (second / "best" / "metrics.json").write_text(json.dumps({"step": 5}))
    third = make_run(tmp_path / "third", second / "best", steps=6, batch_size=4)
    chain = lineage(third, step=4)  # the shipped weights came from the third run's step 4
    assert [(link["run"], link["steps"], link["images"]) for link in chain] == [
        ("first", 8, 64), ("second", 5, 40), ("third", 4, 16)]
    assert [link["hours"] for link in chain] == [16 / 3600, 10 / 3600, 8 / 3600]



def test_images_count_each_steps_logged_global_batch_and_the_args_batch_before_the_column(tmp_path):
    # a run of one process at batch 8 for 4 steps, then resumed on two processes of batch 8 (16 a step),
    # logged since the `images` column: rows before it have none (CSVLog widens the file with empty cells)
    run = tmp_path / "run"
    run.mkdir()
    (run / "args.json").write_text(json.dumps({"init_from": None, "batch_size": 8}))
    rows = ["step,ce,elapsed_s,images"] + [f"{s},1.0,{s},{'' if s <= 4 else 16}" for s in range(1, 7)]
    (run / "train.csv").write_text("\n".join(rows) + "\n")
    assert [link["images"] for link in lineage(run)] == [4 * 8 + 2 * 16]
    assert [link["images"] for link in lineage(run, step=5)] == [4 * 8 + 16]

def test_a_start_from_outside_the_runs_is_named_and_ends_the_chain(tmp_path):
    export = tmp_path / "mae" / "init"
    export.mkdir(parents=True)
    run = make_run(tmp_path / "run", export, steps=3)
    chain = lineage(run)
    assert chain == [{"run": str(export), "external": True},
                     {"run": "run", "steps": 3, "hours": 6 / 3600, "images": 24, "machine": None,
                      "dataset": None, "datasets": []}]


def test_lineage_goes_through_a_shipped_model_folder_and_names_each_runs_machine(tmp_path):
    first = make_run(tmp_path / "first", steps=10)
    (first / "best").mkdir()
    (first / "best" / "metrics.json").write_text(json.dumps({"step": 6}))
    shipped = tmp_path / "checkpoints" / "acai-omr-small"  # what training.release.ship wrote from first/best
    shipped.mkdir(parents=True)
    (shipped / "metrics.json").write_text(json.dumps({"dev": {"ser": 0.8}, "source": str(first / "best")}))
    gpu = make_run(tmp_path / "gpu", shipped, steps=5, batch_size=64)
    args = json.loads((gpu / "args.json").read_text())  # what training.supervised.train records for such a start
    (gpu / "args.json").write_text(json.dumps({**args, "init_from_source": str(first / "best")}))
    (gpu / "machine.json").write_text(json.dumps({"device": "NVIDIA H100 80GB HBM3", "device_type": "cuda",
                                                  "processes": 1, "precision": "bf16"}))
    chain = lineage(gpu)
    assert [(link["run"], link["steps"], link["images"]) for link in chain] == [("first", 6, 48), ("gpu", 5, 320)]
    line = hardware_line(chain)
    assert "1x NVIDIA H100 80GB HBM3, bf16 (`gpu`; " in line
    assert line.index("(`first`; ") < line.index("NVIDIA")  # the CPU run without a machine.json comes first


def test_a_chain_that_leads_back_to_itself_is_an_error_not_a_hang(tmp_path):
    run = make_run(tmp_path / "run", tmp_path / "run" / "checkpoints" / "step-0000002", steps=3)
    with pytest.raises(ValueError, match="already in the chain"):
        lineage(run)


def test_the_data_line_names_a_build_or_says_the_folder_is_not_one():
    from training.release.model_card import data_line

    built = data_line("~/data-v3", {"systems": 16000, "seed": 4, "mix": {"procedural": 0.7, "chorale": 0.3}})
    assert "--systems 16000 --seed 4" in built and "procedural 70%, chorale 30%" in built
    joined = data_line("~/data-mix", None)
    assert "not a single build" in joined and "None" not in joined and "training/README.md" in joined


def test_the_piano_pieces_are_scored_one_by_one_when_the_predictions_name_them(tmp_path):
    from training.release.model_card import ser_by_piece

    rows = [{"index": 0, "source": "corpus-piano", "piece_id": "joplin/rag.mxl", "prediction": "a b", "gold": "a b"},
            {"index": 1, "source": "corpus-piano", "piece_id": "bach/prelude.mxl", "prediction": "a", "gold": "a b"},
            {"index": 2, "source": "corpus-piano", "piece_id": "bach/prelude.mxl", "prediction": "c d", "gold": "a b"},
            {"index": 3, "source": "chorale", "piece_id": "bach/bwv1.mxl", "prediction": "", "gold": "a b"}]
    predictions = tmp_path / "eval-test-predictions.jsonl"
    predictions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert ser_by_piece(predictions, "corpus-piano") == [("bach/prelude.mxl", 2, 0.75), ("joplin/rag.mxl", 1, 0.0)]
    predictions.write_text("".join(json.dumps({k: v for k, v in row.items() if k != "piece_id"}) + "\n" for row in rows))
    assert ser_by_piece(predictions, "corpus-piano") == []  # predictions written before they named their pieces


def test_a_start_from_a_shipped_folder_whose_runs_are_gone_continues_with_the_chain_it_recorded(tmp_path):
    """A new machine has the committed model folder but not the run folders behind it: the chain that
    training.release.ship recorded in metrics.json stands in for them, while the folder still holds those weights."""
    gone = tmp_path / "runs" / "old" / "final"  # never created: that machine's cache is gone
    recorded = [{"run": "older", "steps": 100, "hours": 1.5, "images": 800, "machine": None, "dataset": "d1"},
                {"run": "old", "steps": 50, "hours": 0.5, "images": 400, "machine": None, "dataset": "d2"}]
    shipped = tmp_path / "checkpoints" / "acai-omr-small"
    shipped.mkdir(parents=True)
    (shipped / "metrics.json").write_text(json.dumps({"source": str(gone), "lineage": recorded}))
    new = make_run(tmp_path / "new", shipped, steps=4)
    args = json.loads((new / "args.json").read_text())
    (new / "args.json").write_text(json.dumps({**args, "init_from_source": str(gone)}))
    chain = lineage(new)
    assert [(link["run"], link["steps"], link["hours"]) for link in chain] == [
        ("older", 100, 1.5), ("old", 50, 0.5), ("new", 4, 8 / 3600)]
    # the folder has since shipped a model trained from those weights: its chain still holds them
    later = [*recorded, {"run": "later", "steps": 7, "hours": 0.1, "images": 56, "machine": None, "dataset": "d2"}]
    (shipped / "metrics.json").write_text(json.dumps({"source": str(tmp_path / "later" / "final"), "lineage": later}))
    assert [link["run"] for link in lineage(new)] == ["older", "old", "new"]
    # or something unrelated: the start is named, not invented
    (shipped / "metrics.json").write_text(json.dumps({"source": str(tmp_path / "other" / "final"), "lineage": later[2:]}))
    assert lineage(new)[0] == {"run": str(gone), "external": True}


def test_the_learning_rate_schedule_is_named_as_the_run_applied_it():
    wsd = lr_schedule_phrase({"warmup_steps": 100, "decay_steps": 900, "min_lr_ratio": 0.0})
    assert wsd == "100 warm-up steps, then held at that peak, then 1 - sqrt down to 0 of it over the last 900 steps"
    assert lr_schedule_phrase({"warmup_steps": None, "min_lr_ratio": 0.05}) == "a cosine down to 0.05 of the peak"


def test_the_batch_is_named_per_process_when_the_last_run_had_several():
    assert batch_phrase({"batch_size": 8}, [{"run": "a", "machine": {"processes": 2}}]) == \
        "batch 8 per process on 2 processes"
    assert batch_phrase({"batch_size": 8}, [{"run": "a", "machine": {"processes": 1}}]) == "batch 8"
    assert batch_phrase({"batch_size": 8}, [{"run": "a", "machine": None}]) == "batch 8"  # machine.json gone


def test_the_card_says_which_gold_pitches_are_missed_where_there_are_any(tmp_path):
    from training.release.model_card import render

    shipped = Path(__file__).resolve().parents[1] / "checkpoints" / "acai-omr-small" / "eval-test.json"
    clean = {**json.loads(shipped.read_text()),
             "pitch_missed_by_place": {"staff": {"gold": 10, "missed": 0.2}, "ledger": {"gold": 5, "missed": 0.4},
                                       "chord": {"gold": 0, "missed": None}}}  # chorales only: no chords
    (tmp_path / "eval-test.json").write_text(json.dumps(clean))
    lines = [line for line in render(tmp_path, None).splitlines() if line.startswith("- Gold pitches")]
    assert lines == ["- Gold pitches the model misses (substituted or left out): 20.0% of the 10 in the staff, "
                     "40.0% of the 5 on ledger lines."]


def test_the_card_counts_the_clef_changes_read_where_the_test_split_has_any(tmp_path):
    from training.release.model_card import render

    shipped = Path(__file__).resolve().parents[1] / "checkpoints" / "acai-omr-small" / "eval-test.json"
    clean = {**json.loads(shipped.read_text()), "clef_changes_gold": 24, "clef_changes_written": 10,
             "clef_changes_read": 5 / 24, "clef_changes_right": 0.5}
    (tmp_path / "eval-test.json").write_text(json.dumps(clean))
    lines = [line for line in render(tmp_path, None).splitlines() if line.startswith("- Clef changes")]
    assert len(lines) == 1 and lines[0].startswith("- Clef changes inside a system: 5 of the 24 on the test split read")
    (tmp_path / "eval-test.json").write_text(json.dumps({**clean, "clef_changes_gold": 0, "clef_changes_read": None}))
    assert "- Clef changes" not in render(tmp_path, None)


def test_a_run_that_switched_data_on_a_resume_names_every_data_set_it_read(tmp_path):
    from training.release.model_card import data_line, other_data_lines
    from training.run.folder import datasets_read, record_dataset

    run = make_run(tmp_path / "run", steps=10)
    record_dataset(run, "~/mix-a", 0)
    record_dataset(run, "~/mix-a", 4)  # resumed on the same data: nothing new
    record_dataset(run, "~/mix-b", 6)  # resumed at step 6 on a larger mix
    assert datasets_read(run) == ["~/mix-a", "~/mix-b"]
    assert [link["datasets"] for link in lineage(run)] == [["~/mix-a", "~/mix-b"]]
    assert [link["datasets"] for link in lineage(run, step=5)] == [["~/mix-a"]]  # weights from before the switch
    lines = other_data_lines(lineage(run), "~/mix-b")
    assert len(lines) == 1 and "`~/mix-a` (`run`)" in lines[0]
    assert other_data_lines(lineage(run, step=5), "~/mix-a") == []
    record_dataset(run, "~/mix-a", 5)  # resumed from a checkpoint before the switch: the switch is forgotten
    assert datasets_read(run) == ["~/mix-a"]

    mixed = data_line("~/mix-b", None, {"train": ["/c/data-v3", "/c/data-v9-piano"], "eval_from": "/c/data-v3"})
    assert "`data-v3`, `data-v9-piano` (`python -m training.data mix`)" in mixed and "dev and test `data-v3`'s" in mixed


def test_the_dev_line_says_which_dev_systems_the_ship_compared_on():
    from training.release.model_card import dev_line

    first = dev_line({"dev": {"ser": 0.19, "tedn": 0.16}, "dev_limit": 100})
    assert first == "Dev split (the first 100 systems, when shipped by `training.release.ship`): SER 19.0%, TEDn 16.0%."
    drawn = dev_line({"dev": {"ser": 0.2, "tedn": 0.15, "by_source": {"chorale": {"ser": 0.08},
                                                                       "corpus-piano": {"ser": 0.36}}},
                      "dev_per_source": 50})
    assert "50 systems drawn from each source" in drawn and "by source chorale 8.0%, corpus-piano 36.0%." in drawn


def test_the_signature_line_says_only_when_some_time_signatures_not_in_4_4_are_missed():
    from training.release.model_card import signature_line

    figures = {"key_right": 1.0, "keys_judged": 308, "time_right": 43 / 44, "times_judged": 44,
               "time_right_not_4_4": 8 / 9, "times_not_4_4_judged": 9}
    assert "but on only 8 of the 9 not in 4/4" in signature_line(figures)
    every = signature_line({**figures, "time_right": 1.0, "time_right_not_4_4": 1.0})
    assert "all 9 not in 4/4 among them" in every and "only" not in every


def test_the_source_line_names_the_points_each_kind_of_music_costs():
    from training.release.model_card import source_line

    chorale = {"systems": 200, "ser": 0.06, "ser_pitch": 0.07}
    older = source_line({"ser": 0.117, "by_source": {"chorale": chorale}})  # an evaluation from before the points
    assert older == "- By kind of music, clean test SER: chorale 6.0% (200 systems, pitches 7.0%)."
    counted = {**chorale, "points": 0.045, "points_by_kind": {"pitch": 0.016, "duration": 0.011, "tie": 0.002,
                                                              "accidental": 0.006, "beam": 0.0}}
    line = source_line({"ser": 0.117, "by_source": {"chorale": counted}})
    assert line.endswith("(200 systems, pitches 7.0%; 4.5 of the 11.7 points, most on pitch 1.6, duration 1.1, "
                         "accidental 0.6).")
