"""Masked-autoencoder pretraining of the encoder (`python -m training.mae.pretrain`)."""
