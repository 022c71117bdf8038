"""GRPO fine-tuning of the decoder (`python -m training.grpo.train`): rollouts, rewards, loss, curriculum."""
