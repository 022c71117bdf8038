#!/usr/bin/env bash
# The Python packages gpu_run.sh needs that the lent GPU machine's image lacks (../.library/device/KINDS.md: it has
# torch, transformers, accelerate, pyarrow, pandas, numba, lxml, but no datasets, music21, verovio, lmx, resvg-py
# or rapidfuzz), as wheels for its Python 3.12 on x86-64 Linux, into one folder that travels with the command:
#
#   bash training/supervised/gpu_wheels.sh            # on this machine, with PyPI: fills .gpu-wheels/ (~35 MB)
#   run: BUDGET_MINUTES=9.5 OUTPUT=$OUT/model bash training/supervised/gpu_run.sh, carry [".gpu-wheels"]
#
# The versions are the ones installed here (from requirements.txt, tested together); --no-deps, because every
# other dependency is already on that machine, and gpu_run.sh installs exactly these (its preflight imports them).
set -euo pipefail
cd "$(dirname "$0")/../.."
WHEELS=${WHEELS:-.gpu-wheels}
PYTHON=${PYTHON:-$(command -v python3 || command -v python)}
TARGET_PYTHON=${TARGET_PYTHON:-3.12}
# what the trainer, the data engine and the dev evaluation import, and what those need beside the image's packages
PACKAGES="datasets dill multiprocess music21 chardet jsonpickle more-itertools webcolors linearized-musicxml verovio
resvg-py rapidfuzz"

pins=$("$PYTHON" - $PACKAGES <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    print(" ".join(f"{name}=={version(name)}" for name in sys.argv[1:]))
except PackageNotFoundError as missing:
    sys.exit(f"{missing} is not installed here: pip install -r requirements.txt first")
EOF
)
rm -rf "$WHEELS"
mkdir -p "$WHEELS"
# shellcheck disable=SC2086  # one argument per pin
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --dest "$WHEELS" \
    --python-version "$TARGET_PYTHON" --implementation cp --abi "cp${TARGET_PYTHON/./}" --abi abi3 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any $pins
echo "$WHEELS: $(ls "$WHEELS" | wc -l) wheels, $(du -sh "$WHEELS" | cut -f1) ($pins)"
