"""Torch models for lip-to-speech: encoder, decoders, postnet, losses (arrive with the `train` stage)."""
