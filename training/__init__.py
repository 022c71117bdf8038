"""Training Acai OMR: the dataset engine, three trainers on one skeleton, and the release of a model."""
import os

# How long torch's OpenMP threads spin before they sleep, read once when torch loads (so set here, before any
# trainer imports it). libgomp's default spins long: fast alone on the 2 cores, but beside another busy process
# each waits on the other's spinning threads; OMP_WAIT_POLICY=PASSIVE never spins and is slower alone. 1,000
# spins keeps most of the speed alone and all of PASSIVE's beside a job (`python bench/omp_spin.py`, fp32 path,
# images/s alone / beside a one-thread job: default 3.32 / 1.13, PASSIVE 2.95 / 1.83, 1,000 spins 3.11 / 1.83).
os.environ.setdefault("GOMP_SPINCOUNT", "1000")
