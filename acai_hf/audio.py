"""Playback of a transcription: our MIDI, played by a small additive piano-like synthesiser, as WAV.

Each note is a sum of slightly inharmonic partials (as a piano string's are) that decay, the higher
ones and the higher notes faster; it sounds until its note-off, then the damper stops it quickly.
No sound font and no network: numpy only.
"""
import io
import wave

import numpy as np

from acai_hf.midi_reader import read_notes

MAX_SECONDS = 600.0  # ten minutes of music; a page of piano music is one or two
PARTIALS = 10
INHARMONICITY = 2e-4  # B in f_k = k f sqrt(1 + B k^2)
ATTACK_SECONDS = 0.005  # a hammer's attack, short enough not to click
RELEASE_SECONDS = 0.2  # after note-off the damper silences the string within this time
RELEASE_TIME_CONSTANT = 0.04
PEAK = 0.9  # of full scale, after normalisation


def midi_to_wav(midi_bytes: bytes, sample_rate: int = 22050, max_seconds: float = MAX_SECONDS) -> bytes:
    """A mono 16-bit WAV file of the MIDI's notes. ValueError for a bad file or one that plays too long."""
    if not 8000 <= sample_rate <= 192_000:
        raise ValueError(f"sample_rate must be between 8000 and 192000 Hz, not {sample_rate}")
    notes = read_notes(midi_bytes)
    length_seconds = max((note.end for note in notes), default=0.0) + RELEASE_SECONDS
    if length_seconds > max_seconds:
        raise ValueError(f"The music plays for {length_seconds / 60:.1f} minutes; playback is limited to "
                         f"{max_seconds / 60:g} minutes")
    samples = np.zeros(int(np.ceil(length_seconds * sample_rate)) + 1, dtype=np.float64)
    strings = _Strings(sample_rate)
    for note in notes:
        start = int(round(note.start * sample_rate))
        sound = strings.note(note.pitch, note.velocity, note.end - note.start)
        end = min(start + sound.size, samples.size)
        samples[start:end] += sound[:end - start]
    return _wav_bytes(_normalised(samples), sample_rate)


class _Strings:
    """The undamped sound of each key at each strike strength, computed once and reused by every note
    that plays it: a piece repeats its pitches, and summing partials is the expensive part."""

    BRIGHTNESS_LEVELS = 16  # velocity steps for the timbre; loudness follows the exact velocity

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.tones = {}  # (pitch, brightness level) -> samples from the strike on, as long as needed yet
        self.release = np.exp(-np.arange(int(RELEASE_SECONDS * sample_rate)) / (RELEASE_TIME_CONSTANT * sample_rate))

    def note(self, pitch: int, velocity: int, held_seconds: float) -> np.ndarray:
        """One note: held for held_seconds, then damped."""
        held = max(int(round(held_seconds * self.sample_rate)), 1)
        level = velocity * self.BRIGHTNESS_LEVELS // 128
        tone = self._tone(pitch, level, held + self.release.size)
        sound = np.zeros(held + self.release.size)
        sound[:min(tone.size, sound.size)] = tone[:sound.size]
        sound[held:] *= self.release
        return (velocity / 127) ** 1.6 * sound

    def _tone(self, pitch: int, level: int, length: int) -> np.ndarray:
        cached = self.tones.get((pitch, level))
        if cached is None or (cached.size < length and cached.size < self._ring_samples(pitch)):
            grown = max(length, 2 * (0 if cached is None else cached.size))
            cached = _piano_tone(pitch, (level + 0.5) / self.BRIGHTNESS_LEVELS,
                                 min(grown, self._ring_samples(pitch)), self.sample_rate)
            self.tones[pitch, level] = cached
        return cached

    def _ring_samples(self, pitch: int) -> int:
        return int(_ring_seconds(pitch) * self.sample_rate)


def _ring_seconds(pitch: int) -> float:
    """Time for the fundamental to fall by 60 dB: ~10 s for a low string, under a second for a high one."""
    return float(np.clip(12.0 * 2.0 ** (-(pitch - 21) / 20), 0.6, 12.0))


def _piano_tone(pitch: int, strength: float, length: int, sample_rate: int) -> np.ndarray:
    """`length` samples of an undamped string struck with `strength` (0..1), peak partial amplitude 1."""
    frequency = 440.0 * 2.0 ** ((pitch - 69) / 12)
    t = np.arange(length) / sample_rate
    brightness = 0.6 + 0.8 * strength  # a harder strike excites the upper partials more
    tone = np.zeros(length)
    for k in range(1, PARTIALS + 1):
        partial_frequency = k * frequency * np.sqrt(1 + INHARMONICITY * k * k)
        if partial_frequency >= 0.45 * sample_rate:
            break  # above Nyquist it would alias into a wrong pitch
        amplitude = k ** -(2.2 - brightness)
        decay = 6.9 / _ring_seconds(pitch) * (1 + 0.5 * (k - 1))  # ln(1000) / T60, higher partials faster
        tone += amplitude * np.exp(-decay * t) * np.sin(2 * np.pi * partial_frequency * t)
    return tone * np.minimum(t / ATTACK_SECONDS, 1.0)


def _normalised(samples: np.ndarray) -> np.ndarray:
    peak = np.max(np.abs(samples), initial=0.0)
    return samples * (PEAK / peak) if peak > 0 else samples


def _wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.tobytes())
    return buffer.getvalue()
