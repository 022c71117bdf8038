"""Measuring and releasing a model: evaluation on a split (and the trainers' dev evaluation), the bundled
examples, calibration, shipping as the app's default, sharded export, the model card and the Hub."""
