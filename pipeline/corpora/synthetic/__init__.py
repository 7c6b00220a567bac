"""The embedded corpus: GRID-format talking faces and speech made offline (espeak-ng, a photo)."""
