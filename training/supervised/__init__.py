"""Supervised training with scheduled sampling (`python -m training.supervised.train`), its time budget and
the one-command GPU recipe (gpu_run.sh)."""
