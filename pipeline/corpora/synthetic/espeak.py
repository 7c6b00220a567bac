"""Speech synthesis with the libespeak-ng that the espeakng-loader wheel bundles (ctypes).

Synchronous output with word and phoneme events, each carrying its sample position, so the
generator knows exactly when every word and phoneme is spoken.

Determinism takes two things. espeak-ng seeds its random numbers (pitch jitter) from the clock at
initialisation, so each call sets a fixed seed. It also keeps hidden state from one synthesis to
the next (the same text comes out a few samples longer or shorter each time) that re-initialising
does not reset, so every call loads a fresh copy of the library and unloads it afterwards
(~6 ms). Then the same text and voice always give the same samples, in any process.
"""
from __future__ import annotations

import _ctypes
import ctypes
import os
from dataclasses import dataclass

import numpy as np

from pipeline.io.manifest import Word

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_END = 5
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_RANDOM_SEED = 1


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice: language, variant (e.g. ``m3``, ``f2``), words/min, pitch and range (0-100)."""

    language: str = "en-us"
    variant: str = "m1"
    rate: int = 165
    pitch: int = 50
    pitch_range: int = 50


@dataclass(frozen=True)
class Phoneme:
    """One phoneme event: espeak mnemonic without stress marks, start sample."""

    name: str
    start: int


@dataclass
class Speech:
    """Synthesised audio (int16) with its words (start and end in seconds, each a whole number of
    samples) and phonemes (start sample)."""

    audio: np.ndarray
    sample_rate: int
    words: list[Word]
    phonemes: list[Phoneme]


class _Session:
    """One load of libespeak-ng, initialised for synchronous output with phoneme events."""

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        data_parent = os.path.dirname(espeakng_loader.get_data_path())
        rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent.encode(), _INITIALIZE_PHONEME_EVENTS
        )
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise with data at {data_parent}")
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, bytes]] = []
        # Keep a reference: ctypes must not garbage-collect the callback while C holds it.
        self._callback = _Callback(self._on_audio)
        self._lib.espeak_SetSynthCallback(self._callback)

    def close(self) -> None:
        self._lib.espeak_Terminate()
        _ctypes.dlclose(self._lib._handle)

    def _on_audio(self, wav, n_samples, events) -> int:
        if n_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            name = bytes(event.id.string).split(b"\0")[0] if event.type == _EVENT_PHONEME else b""
            self._events.append((event.type, event.text_position, event.length, event.sample, name))
            i += 1
        return 0

    def speak(self, text: str, voice: Voice) -> Speech:
        name = f"{voice.language}+{voice.variant}" if voice.variant else voice.language
        if self._lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {name!r}")
        self._lib.espeak_SetParameter(_PARAM_RATE, int(voice.rate), 0)
        self._lib.espeak_SetParameter(_PARAM_PITCH, int(voice.pitch), 0)
        self._lib.espeak_SetParameter(_PARAM_RANGE, int(voice.pitch_range), 0)
        self._lib.espeak_ng_SetRandSeed(ctypes.c_long(_RANDOM_SEED))
        encoded = text.encode("utf-8")
        status = self._lib.espeak_Synth(encoded, len(encoded) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise RuntimeError(f"espeak-ng synthesis failed (status {status}) for {text!r}")
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return Speech(audio, self.sample_rate, *self._timings(text, len(audio)))

    def _timings(self, text: str, n_samples: int) -> tuple[list[Word], list[Phoneme]]:
        encoded = text.encode("utf-8")
        word_starts = [(pos, length, sample) for kind, pos, length, sample, _ in self._events if kind == _EVENT_WORD]
        phonemes = [
            Phoneme(name.decode("utf-8", "replace").strip("',#"), sample)
            for kind, _, _, sample, name in self._events
            if kind == _EVENT_PHONEME
        ]
        # The utterance's speech ends where espeak's closing pause begins: the first pause after
        # the last word starts (a long sentence has pauses between its phrases too).
        last_word = word_starts[-1][2] if word_starts else 0
        pauses = [p.start for p in phonemes if p.name.startswith("_") and p.start > last_word]
        speech_end = pauses[0] if pauses else n_samples
        # A word event fires before the word's leading silence; its first phoneme is the onset.
        # Words are contiguous: each ends where the next begins, the last where speech ends.
        bounds = [w[2] for w in word_starts[1:]] + [speech_end]
        onsets = [next((p.start for p in phonemes if start <= p.start < end), start)
                  for (_, _, start), end in zip(word_starts, bounds, strict=True)]
        ends = onsets[1:] + [speech_end]
        words = [
            # text_position is 1-based in bytes of the input.
            Word(encoded[pos - 1 : pos - 1 + length].decode("utf-8"), onset / self.sample_rate, end / self.sample_rate)
            for (pos, length, _), onset, end in zip(word_starts, onsets, ends, strict=True)
        ]
        return words, phonemes


def speak(text: str, voice: Voice) -> Speech:
    """Synthesise `text` (plain words separated by spaces) with `voice`, deterministically."""
    session = _Session()
    try:
        return session.speak(text, voice)
    finally:
        session.close()
