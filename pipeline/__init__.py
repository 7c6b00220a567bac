"""lip2speech: from videos of a speaking face to speech.

`pipeline.stages` holds one module per DVC stage (`python -m pipeline STAGE`); the libraries they
call are grouped by concern: `io` (media, manifest, stores, params, splits), `compute` (worker
processes, torch devices), `corpora` (GRID-style sources and the embedded corpus), `face`
(landmarks, mouth crops, video features), `audio` (mels, vocoders, speech metrics) and `learn`
(dataset, training, checkpoints, inference, evaluation). Imports point one way: stages ->
libraries -> lower libraries and `models`.
"""
