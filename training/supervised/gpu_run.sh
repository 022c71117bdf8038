#!/usr/bin/env bash
# One command for a machine with one NVIDIA GPU and ~16 cores, offline (issue #21, deliverable 4): build a
# geometry dataset with every core, continue the geometry recipe (training/README.md, runs small-v21 to v26) on the
# GPU, and export the model as ONE folder of at most 8 files of at most 16 MiB, all inside BUDGET_MINUTES.
#
#   OUTPUT=/where/the/model/goes bash training/supervised/gpu_run.sh    (from anywhere; it runs in the repo root, and
#                                                              relative paths below are from there)
#
# Time (defaults, 11 minutes): preflight ~10 s; build <= BUILD_MAX_MINUTES (30,000 systems, ~2-3 min on
# 16 cores; a slower build is cut there and trained on as far as it got); a calibration run of CAL_STEPS
# steps measures the pace; the resumed run gets the steps that fit until EXPORT_SECONDS before the end,
# so its cosine reaches its floor as time runs out (training/supervised/step_budget.py); then the export and its
# checks (training/release/export_shards.py). Every setting below can be overridden from the environment; tiny
# sizes run it on a CPU (tests/test_gpu_run.py). The log is $WORK/gpu_run.log and stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS=0

BUDGET_MINUTES=${BUDGET_MINUTES:-11}
WORK=${WORK:-/tmp/acai-gpu-run}           # data, run and log; not the output
OUTPUT=${OUTPUT:-$WORK/model}             # replaced by the export; nothing else is written there
PYTHON=${PYTHON:-$(command -v python3 || command -v python)}
CORES=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)   # plain nproc obeys OMP_NUM_THREADS
REQUIRE_GPU=${REQUIRE_GPU:-1}             # 0: let it run on a CPU (tests)
WHEELS=${WHEELS:-.gpu-wheels}             # the packages the machine lacks (training/supervised/gpu_wheels.sh), if there
# data
SYSTEMS=${SYSTEMS:-30000}
SEED=${SEED:-7}                           # another seed than data-v1..v3 (1, 3, 4) and gpu-h100-v1 (2)
BUILD_WORKERS=${BUILD_WORKERS:-$CORES}
BUILD_MAX_MINUTES=${BUILD_MAX_MINUTES:-4}
UNITS_PER_SHARD=${UNITS_PER_SHARD:-4}     # the build's default; 1 for tiny builds
MIX=${MIX:-procedural=0.25,chorale=0.35,corpus-piano=0.2,quartet=0.2}   # data-v4-real's: the test split is real music
                                          # (empty: the build's default, 70% procedural; procedural=1.0 reads no corpus piece)
# model and recipe (the CPU line's signals since small-v23; batch and learning rate sized for a GPU)
INIT=${INIT:-checkpoints/acai-omr-small}   # the shipped weights (the geometry line since small-v23); "none": fresh weights of PRESET
PRESET=${PRESET:-small}
BATCH=${BATCH:-64}
LR=${LR:-1e-3}                            # v21's 5e-4 at batch 8, x sqrt(8) for batch 64, a little less
WARMUP=${WARMUP:-150}
MIN_LR_RATIO=${MIN_LR_RATIO:-0.05}
AUGMENT_P=${AUGMENT_P:-0.1}
STEPS=${STEPS:-}                          # a cap on the total steps; empty: as many as fit in the time
CAL_STEPS=${CAL_STEPS:-200}
CAL_MAX_MINUTES=${CAL_MAX_MINUTES:-1.5}
TRAIN_WORKERS=${TRAIN_WORKERS:-$(( CORES > 2 ? CORES - 2 : 0 ))}   # leave the trainer and the GPU feeder a core
SAVE_EVERY=${SAVE_EVERY:-250}
EVAL_EVERY=${EVAL_EVERY:-1000}            # rare: greedy decoding of the dev subset is the slow part
EVAL_SECONDS=${EVAL_SECONDS:-40}          # one evaluation, as the time plan counts it
DEV_LIMIT=${DEV_LIMIT:-128}
DECODE_LIMIT=${DECODE_LIMIT:-32}
EVAL_BATCH=${EVAL_BATCH:-32}
# export
EXPORT_SECONDS=${EXPORT_SECONDS:-45}
SHARD_SIZE=${SHARD_SIZE:-15MB}            # 15 * 10^6 bytes: two shards of the ~20 MB float16 weights
MAX_FILES=${MAX_FILES:-8}
MAX_FILE_MIB=${MAX_FILE_MIB:-16}

export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} HF_DATASETS_OFFLINE=${HF_DATASETS_OFFLINE:-1} \
       TRANSFORMERS_OFFLINE=${TRANSFORMERS_OFFLINE:-1} TQDM_MININTERVAL=${TQDM_MININTERVAL:-30}
export PYTHONUNBUFFERED=1
[ "$WORK" != / ] || { echo "WORK=/: give the run a folder of its own" >&2; exit 1; }  # $WORK/run is removed
DATA=$WORK/data
RUN=$WORK/run
LOG=$WORK/gpu_run.log
mkdir -p "$WORK"
exec > >(tee -a "$LOG") 2>&1

DEADLINE=$(awk -v m="$BUDGET_MINUTES" 'BEGIN { printf "%d", m * 60 }')
TRAIN_END=$(( DEADLINE - EXPORT_SECONDS ))
say() { printf '[%4ds] %s\n' "$SECONDS" "$*"; }
die() { say "FAILED: $*"; exit 1; }
say "gpu_run: budget ${BUDGET_MINUTES} min, output $OUTPUT, work $WORK, $CORES cores"

# -- carried wheels: installed into the work folder, not the machine's Python, and put first on the path ---------
if compgen -G "$WHEELS/*.whl" >/dev/null; then
    "$PYTHON" -m pip install --quiet --no-index --no-deps --target "$WORK/site" "$WHEELS"/*.whl \
        || die "installing the wheels in $WHEELS"
    export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
    say "installed $(ls "$WHEELS"/*.whl | wc -l) wheels from $WHEELS into $WORK/site"
fi

# -- preflight: fail in seconds, not after the build, when the machine lacks a package or the GPU, or when this
# transformers writes the export in other files than counted (the starting weights go through the same export)
"$PYTHON" - "$REQUIRE_GPU" "$INIT" "$PRESET" "$WORK/preflight-export" "$SHARD_SIZE" "$MAX_FILES" \
    "$MAX_FILE_MIB" <<'EOF' || die "preflight"
import importlib, shutil, sys, tempfile
require_gpu, init, preset, out, shard_size, max_files, max_file_mib = sys.argv[1:]
needed = ("torch", "transformers", "accelerate", "datasets", "tokenizers", "safetensors", "verovio", "music21",
          "lmx", "resvg_py", "rapidfuzz", "lxml", "pyarrow", "PIL", "numpy")
failed = []
for name in needed:  # imported, not only found: a wheel whose own dependency is missing fails here
    try:
        importlib.import_module(name)
    except Exception as error:
        failed.append(f"{name} ({type(error).__name__}: {error})")
if failed:
    sys.exit("cannot import: " + "; ".join(failed) + " (carry wheels: training/supervised/gpu_wheels.sh)")
import torch, transformers
import training.supervised.train  # noqa: F401  (the trainer's own imports, against this transformers)
from training.release.export_shards import export, generate_tokens, smoke_image
from training.run.precision import resolve_precision
device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
print(f"torch {torch.__version__}, transformers {transformers.__version__}, {device}, "
      f"precision auto -> {resolve_precision('auto')}")
if require_gpu == "1" and not torch.cuda.is_available():
    sys.exit("no CUDA device (REQUIRE_GPU=0 runs on the CPU)")
if init == "none":
    from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration
    from acai_hf.model.loading import default_processor
    init = tempfile.mkdtemp()
    model = AcaiOMRForConditionalGeneration.from_preset(preset)
    model.save_pretrained(init)
    default_processor(model.config).save_pretrained(init)
files = export(init, out, shard_size, int(max_files), float(max_file_mib))  # ValueError: over the limits
generate_tokens(out, smoke_image(), tokens=2)
shutil.rmtree(out)
print(f"the starting weights export in {len(files)} files")
EOF

# -- 1. the dataset, with every core; a build over its time is cut and used as far as it got -----------------
say "build: $SYSTEMS systems, seed $SEED, $BUILD_WORKERS workers, at most $BUILD_MAX_MINUTES min"
build_rc=0
timeout "${BUILD_MAX_MINUTES}m" "$PYTHON" -m training.data build --out "$DATA" --systems "$SYSTEMS" \
    --seed "$SEED" --workers "$BUILD_WORKERS" --test-pieces 0 --units-per-shard "$UNITS_PER_SHARD" \
    ${MIX:+--mix "$MIX"} || build_rc=$?
if [ "$build_rc" = 124 ]; then
    echo  # after the build's unfinished progress line
    say "build cut at $BUILD_MAX_MINUTES min: training on the shards it finished (dev held out from train if none)"
    "$PYTHON" -c "import sys, pathlib, training.data.build as b; b.write_readme(pathlib.Path(sys.argv[1]))" "$DATA"
elif [ "$build_rc" != 0 ]; then
    die "build (exit $build_rc)"
fi
"$PYTHON" - "$DATA" <<'EOF' || die "no training data in $DATA"
import sys
from pathlib import Path
import pyarrow.parquet as pq
shards = Path(sys.argv[1], "data")
counts = {s: sum(pq.read_metadata(f).num_rows for f in shards.glob(f"{s}-*.parquet")) for s in ("train", "dev")}
print(f"data: {counts['train']} train, {counts['dev']} dev systems")
sys.exit(0 if counts["train"] else 1)
EOF
say "build done"

# -- 2. training: a calibration run, then the same run resumed with the steps that fit --------------------------
if [ "$INIT" = none ]; then
    start=(--preset "$PRESET" --set decoder.dropout=0.0 --set encoder.hidden_dropout_prob=0.0
           --set transition_dropout=0.0)
else
    start=(--init-from "$INIT")  # its config already has dropout 0 (--set only shapes a fresh preset)
fi
recipe=(--batch-size "$BATCH" --lr "$LR" --encoder-lr "$LR" --layer-decay 1.0 --warmup-steps "$WARMUP"
        --min-lr-ratio "$MIN_LR_RATIO" --ss-start 1.0 --augment-p "$AUGMENT_P" --box-attention 1.0 --box-glyphs
        --dense-loss 1.0 --corrupt-inputs 0.3 --corrupt-only pitches --repeat-time-signatures 3 --signature-weight 10
        --clef-weight 10
        --decoder-group-size 0 --precision auto --workers "$TRAIN_WORKERS"
        --save-every "$SAVE_EVERY" --keep 2 --eval-every "$EVAL_EVERY" --dev-limit "$DEV_LIMIT"
        --eval-batch-size "$EVAL_BATCH" --seed "$SEED")
guess=${STEPS:-3000}   # the calibration's schedule only; the resumed run gets the real total
cal=$(( CAL_STEPS < guess ? CAL_STEPS : guess ))
rm -rf "$RUN"
left=$(( TRAIN_END - SECONDS ))
[ "$left" -gt 30 ] || die "no time left to train after the build (${left} s)"
say "calibration: $cal steps of batch $BATCH (dev CE only, no decoding)"
cal_started=$SECONDS
train_rc=0
timeout --kill-after=10 "$left" "$PYTHON" -m training.supervised.train --dataset "$DATA" --out "$RUN" "${start[@]}" \
    "${recipe[@]}" --total-steps "$guess" --stop-at "$cal" --max-minutes "$CAL_MAX_MINUTES" --decode-limit 0 \
    || train_rc=$?
[ "$train_rc" = 0 ] || die "calibration run (exit $train_rc)"
cal_seconds=$(( SECONDS - cal_started ))
# what the calibration stop wrote is not the result: the export must find the resumed run's models
rm -rf "$RUN/best" "$RUN/final"

left=$(( TRAIN_END - SECONDS ))
plan=$("$PYTHON" -m training.supervised.step_budget "$RUN" --seconds "$left" --calibration-seconds "$cal_seconds" \
    --eval-every "$EVAL_EVERY" --eval-seconds "$EVAL_SECONDS" ${STEPS:+--max-steps "$STEPS"}) || die "time plan"
read -r total minutes <<<"$plan"
done_steps=$(tail -n 1 "$RUN/train.csv" | cut -d, -f1)
if [ "$total" -gt "$done_steps" ] && [ "$left" -gt 0 ]; then
    say "training: steps $done_steps -> $total, loop at most $minutes min, hard stop in $left s"
    timeout --kill-after=10 "$left" "$PYTHON" -m training.supervised.train --resume "$RUN" --total-steps "$total" \
        --max-minutes "$minutes" --decode-limit "$DECODE_LIMIT" || train_rc=$?
    # killed at the hard stop, the run's checkpoints still hold its last saved steps: export those
    [ "$train_rc" = 0 ] || say "WARNING: the training run exited with $train_rc; exporting what it saved"
else
    say "no time for more steps: exporting the calibration run"
fi
# the curves in brief, for a log that is all that comes back from the machine
[ -f "$RUN/dev.csv" ] && { say "dev.csv:"; cut -c1-400 "$RUN/dev.csv"; }
say "train.csv, every $SAVE_EVERY steps and the last:"
awk -F, -v every="$SAVE_EVERY" 'NR == 1 || $1 % every == 0 { print; shown = NR } END { if (shown != NR) print }' \
    "$RUN/train.csv" | cut -c1-240

# -- 3. export: float16 shards + processor in one folder, checked against the limits, loaded back ---------------
# a finished run's final/ ends its cosine at the floor; best/ (picked by the SER of 32 decoded dev systems, a noisy
# figure) or the latest checkpoint only when the hard stop cut the run short
source=$RUN
[ -f "$RUN/final/config.json" ] && source=$RUN/final
say "export $source to $OUTPUT (shards of $SHARD_SIZE; at most $MAX_FILES files of $MAX_FILE_MIB MiB)"
"$PYTHON" -m training.release.export_shards "$source" --out "$OUTPUT" --max-shard-size "$SHARD_SIZE" \
    --max-files "$MAX_FILES" --max-file-mib "$MAX_FILE_MIB" --dataset "$DATA" || die "export (see above: limits or loading)"
if [ "$SECONDS" -gt "$DEADLINE" ]; then
    say "WARNING: over the budget of $BUDGET_MINUTES min by $(( SECONDS - DEADLINE )) s"
fi
say "done: $OUTPUT ($(ls "$OUTPUT" | wc -l) files)"
