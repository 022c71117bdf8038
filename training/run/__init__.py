"""What every trainer shares: its arguments and their resume rule, its run folder, checkpoints, logs, the
learning-rate schedule, optimizer groups, precision and the launch on one or several processes."""
