"""Audio: log-mels locked to the video frame rate, vocoders back to waveforms, speech metrics."""
