"""Training Acai OMR: the dataset engine, three trainers on one skeleton, and the release of a model."""
import os

# How long torch's OpenMP threads spin before they sleep, read once when torch loads (so set here, before any
# trainer imports it). The default spins long: alone on 2 cores a step is fast, but beside another busy
# process each waits on the other's spinning threads (a training step 0.86 s alone, 3.2 s beside a one-thread
# job); OMP_WAIT_POLICY=PASSIVE never spins and is 28% slower alone (1.10 s). 1,000 spins is as fast as the
# default alone (0.83 s) and as PASSIVE beside another job (1.26 s against 1.20). bench/omp_spin.py measures it.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")
