"""From a `--dataset` to model batches: train / dev splits, width-bucketed batches that resume mid-epoch,
the collator, and the DataLoader every trainer reads."""
