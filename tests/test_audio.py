"""Playback: our MIDI on FluidSynth's General MIDI piano (pitches, timing, limits), and a clear message
where FluidSynth is missing.

Skipped only where FluidSynth or its SoundFont is not installed, and never in CI (CI set), where
.ci/run installs them.
"""
import io
import os
import struct
import wave

import numpy as np
import pytest

import acai_hf
from acai_hf.music.audio import (FLUIDSYNTH_ENV, SOUNDFONT_ENV, PlaybackUnavailable, midi_length_seconds, midi_to_wav,
                           playback_unavailable_reason)

SAMPLE_RATE = 22050
SCALE = ["C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5"]
SCALE_KEYS = [60, 62, 64, 65, 67, 69, 71, 72]

needs_fluidsynth = pytest.mark.skipif(
    playback_unavailable_reason() is not None and not os.environ.get("CI"),
    reason=f"playback unavailable here: {playback_unavailable_reason()}")


def hz(key):
    return 440.0 * 2 ** ((key - 69) / 12)


def lmx_of(measures):
    """One system of LMX: treble-staff notes, measures given as lists of 'PITCH DURATION' strings."""
    head = "key:fifths:0 time beats:4 beat-type:4 clef:G2 staff:1 clef:F4 staff:2"
    body = [" ".join(f"{note} staff:1" for note in notes) for notes in measures]
    return "measure " + head + " " + " measure ".join(body)


def decode(wav_bytes):
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        frames = wav.readframes(wav.getnframes())
        return np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768, wav.getframerate()


def spectrum_peaks(samples, sample_rate, start, end, count):
    """The `count` strongest spectral peaks (Hz) of samples[start:end] (seconds), strongest first."""
    window = samples[int(start * sample_rate):int(end * sample_rate)]
    window = window * np.hanning(window.size)
    magnitude = np.abs(np.fft.rfft(window, n=1 << 17))
    frequencies = np.fft.rfftfreq(1 << 17, 1 / sample_rate)
    is_peak = (magnitude[1:-1] > magnitude[:-2]) & (magnitude[1:-1] >= magnitude[2:])
    peaks = np.flatnonzero(is_peak) + 1
    strongest = peaks[np.argsort(magnitude[peaks])[::-1][:count]]
    return list(frequencies[strongest])


def near(frequency, target, cents=25):
    return abs(1200 * np.log2(frequency / target)) < cents


def rms(samples, rate, start, end):
    return float(np.sqrt(np.mean(samples[int(start * rate):int(end * rate)] ** 2)))


def smf(events, division=480):
    """A format-0 MIDI file from (delta_ticks, event_bytes) pairs."""
    body = b""
    for delta, event in events + [(0, b"\xff\x2f\x00")]:
        variable = [delta & 0x7F]
        while delta > 0x7F:
            delta >>= 7
            variable.insert(0, (delta & 0x7F) | 0x80)
        body += bytes(variable) + event
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, division) + b"MTrk" + struct.pack(">I", len(body)) + body


def tempo(bpm):
    return b"\xff\x51\x03" + round(60e6 / bpm).to_bytes(3, "big")


@pytest.fixture(scope="module")
def scale_midi():
    xml = acai_hf.join_systems([lmx_of([[f"{p} quarter" for p in SCALE[:4]], [f"{p} quarter" for p in SCALE[4:]]])])
    return acai_hf.to_midi(xml)


@needs_fluidsynth
def test_scale_is_played_on_the_piano_at_its_pitches_and_tempo(scale_midi):
    samples, rate = decode(midi_to_wav(scale_midi, sample_rate=SAMPLE_RATE))
    assert rate == SAMPLE_RATE
    assert 4.0 <= samples.size / rate <= 4.0 + 4.0  # the music, then the piano's release and the reverb
    assert 0.85 < np.max(np.abs(samples)) <= 0.91  # normalised
    for index, key in enumerate(SCALE_KEYS):  # a quarter note every 0.5 s at music21's 120 bpm
        peaks = spectrum_peaks(samples, rate, index * 0.5 + 0.05, index * 0.5 + 0.45, 2)
        assert any(near(peak, hz(key)) for peak in peaks), (SCALE[index], peaks, hz(key))
    # after the release the piano is quiet
    assert rms(samples, rate, samples.size / rate - 0.3, samples.size / rate) < 0.01


@needs_fluidsynth
def test_chord_sounds_all_its_notes_together():
    chord = ["C4 half", "chord E4 half", "chord G4 half", "rest half"]
    samples, rate = decode(midi_to_wav(acai_hf.to_midi(acai_hf.join_systems([lmx_of([chord])]))))
    peaks = spectrum_peaks(samples, rate, 0.1, 0.9, 6)
    for key in (60, 64, 67):
        assert any(near(peak, hz(key)) for peak in peaks), (key, peaks)


@needs_fluidsynth
def test_tempo_changes_rescale_time():
    # one quarter at 60 bpm (1 s), then the tempo doubles: the next quarter takes 0.5 s;
    # the note-offs are note-ons with velocity 0, the second in running status
    midi = smf([(0, tempo(60)), (0, b"\x90\x45\x64"), (480, b"\x90\x45\x00"),
                (0, tempo(120)), (0, b"\x90\x48\x64"), (480, b"\x48\x00"), (0, b"\x80\x45\x00")])
    assert midi_length_seconds(midi) == pytest.approx(1.5)
    samples, rate = decode(midi_to_wav(midi))
    assert near(spectrum_peaks(samples, rate, 0.1, 0.9, 1)[0], hz(69))
    assert any(near(peak, hz(72)) for peak in spectrum_peaks(samples, rate, 1.05, 1.45, 2))


@needs_fluidsynth
def test_velocity_sets_loudness():
    midi = smf([(0, b"\x90\x3c\x28"), (480, b"\x80\x3c\x00"), (0, b"\x90\x3c\x6e"), (480, b"\x80\x3c\x00")])
    samples, rate = decode(midi_to_wav(midi))
    assert rms(samples, rate, 0.55, 0.95) > 2 * rms(samples, rate, 0.05, 0.45)


@needs_fluidsynth
def test_silence_for_a_score_without_notes():
    samples, _ = decode(midi_to_wav(acai_hf.to_midi(acai_hf.join_systems([]))))
    assert not samples.any()


def test_music_longer_than_the_cap_is_refused_before_any_rendering(monkeypatch):
    monkeypatch.setenv(FLUIDSYNTH_ENV, "/nonexistent/fluidsynth")  # the length is checked first
    eleven_minutes = smf([(0, tempo(60)), (0, b"\x90\x3c\x40"), (480 * 660, b"\x80\x3c\x00")])
    with pytest.raises(ValueError, match="limited to 10 minutes"):
        midi_to_wav(eleven_minutes)


@pytest.mark.parametrize("data", [b"", b"RIFF0000WAVE", b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x09\x00\x90",
                                  "MThd"])
def test_bad_midi_is_a_clear_error(data):
    with pytest.raises(ValueError, match="MIDI"):
        midi_to_wav(data)


def test_without_fluidsynth_or_a_soundfont_playback_says_it_is_unavailable(monkeypatch, scale_midi, tmp_path):
    monkeypatch.setenv(FLUIDSYNTH_ENV, str(tmp_path / "no-fluidsynth"))
    assert "FluidSynth is not installed" in playback_unavailable_reason()
    with pytest.raises(PlaybackUnavailable, match="FluidSynth is not installed"):
        midi_to_wav(scale_midi)
    monkeypatch.delenv(FLUIDSYNTH_ENV)
    monkeypatch.setenv(SOUNDFONT_ENV, str(tmp_path / "none.sf2"))
    if playback_unavailable_reason() is not None and "SoundFont" not in playback_unavailable_reason():
        pytest.skip("no FluidSynth here to get as far as the SoundFont")
    assert "no General MIDI SoundFont" in playback_unavailable_reason()
