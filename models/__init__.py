"""Torch models for lip-to-speech: ResNet18, the encoder, the decoders (mlp, conv, flow), postnet, losses."""
