"""Learning: the dataset over the feature stores, normalisation, training, checkpoints, inference
and evaluation."""
