"""Training Acai OMR: the dataset engine, three trainers on one skeleton, and the release of a model."""
