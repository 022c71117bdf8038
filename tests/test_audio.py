"""Playback: our MIDI reader's timing and the synthesiser's pitches, durations and limits."""
import io
import struct
import wave

import numpy as np
import pytest

import acai_hf
from acai_hf.audio import RELEASE_SECONDS, midi_to_wav
from acai_hf.midi_reader import read_notes

SAMPLE_RATE = 22050
SCALE = ["C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5"]
SCALE_KEYS = [60, 62, 64, 65, 67, 69, 71, 72]


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


@pytest.fixture(scope="module")
def scale_midi():
    xml = acai_hf.join_systems([lmx_of([[f"{p} quarter" for p in SCALE[:4]], [f"{p} quarter" for p in SCALE[4:]]])])
    return acai_hf.to_midi(xml)


def test_reader_times_our_scale_at_the_default_tempo(scale_midi):
    notes = read_notes(scale_midi)
    assert [n.pitch for n in notes] == SCALE_KEYS
    assert [(n.start, n.end) for n in notes] == [(i * 0.5, i * 0.5 + 0.5) for i in range(8)]  # 120 bpm


def test_scale_wav_lasts_the_music_plus_the_release_and_sounds_each_pitch(scale_midi):
    samples, rate = decode(midi_to_wav(scale_midi, sample_rate=SAMPLE_RATE))
    assert rate == SAMPLE_RATE
    assert samples.size / rate == pytest.approx(4.0 + RELEASE_SECONDS, abs=0.01)
    assert 0.85 < np.max(np.abs(samples)) <= 0.91  # normalised
    for index, key in enumerate(SCALE_KEYS):
        strongest = spectrum_peaks(samples, rate, index * 0.5 + 0.1, index * 0.5 + 0.48, 1)[0]
        assert near(strongest, hz(key)), (SCALE[index], strongest, hz(key))
    # after the last note's release the string is silent
    assert np.max(np.abs(samples[int((4.0 + RELEASE_SECONDS - 0.02) * rate):])) < 0.01


def test_chord_sounds_all_its_notes_together():
    chord = ["C4 half", "chord E4 half", "chord G4 half", "rest half"]
    samples, rate = decode(midi_to_wav(acai_hf.to_midi(acai_hf.join_systems([lmx_of([chord])]))))
    peaks = spectrum_peaks(samples, rate, 0.1, 0.9, 3)
    for key in (60, 64, 67):
        assert any(near(peak, hz(key)) for peak in peaks), (key, peaks)


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


def test_tempo_changes_rescale_time_and_running_status_is_read():
    # one quarter at 60 bpm (1 s), then the tempo doubles: the next quarter takes 0.5 s;
    # the note-offs are note-ons with velocity 0, the second in running status
    midi = smf([(0, tempo(60)), (0, b"\x90\x45\x64"), (480, b"\x90\x45\x00"),
                (0, tempo(120)), (0, b"\x90\x48\x64"), (480, b"\x48\x00"), (0, b"\x80\x45\x00")])
    notes = read_notes(midi)
    assert [(n.pitch, n.start, n.end, n.velocity) for n in notes] == [(69, 0.0, 1.0, 100), (72, 1.0, 1.5, 100)]
    samples, rate = decode(midi_to_wav(midi))
    assert samples.size / rate == pytest.approx(1.5 + RELEASE_SECONDS, abs=0.01)
    assert near(spectrum_peaks(samples, rate, 1.1, 1.45, 1)[0], hz(72))


def test_velocity_sets_loudness():
    midi = smf([(0, b"\x90\x3c\x28"), (480, b"\x80\x3c\x00"), (0, b"\x90\x3c\x6e"), (480, b"\x80\x3c\x00")])
    samples, rate = decode(midi_to_wav(midi))
    quiet, loud = (np.sqrt(np.mean(samples[int(a * rate):int(b * rate)] ** 2)) for a, b in ((0.05, 0.45), (0.55, 0.95)))
    assert loud > 3 * quiet


def test_reader_agrees_with_music21_on_a_real_score(gold_systems):
    from music21 import converter

    xml = acai_hf.join_systems([lmx for _, lmx in gold_systems[:3]])
    midi = acai_hf.to_midi(xml)
    ours = sorted((round(n.start, 6), n.pitch) for n in read_notes(midi))
    parsed = converter.parseData(midi, format="midi")
    theirs = sorted((round(float(n.offset) * 0.5, 6), p.midi)  # 120 bpm: a quarter is 0.5 s
                    for n in parsed.flatten().notes for p in n.pitches)
    assert ours == theirs and len(ours) > 20
    samples, rate = decode(midi_to_wav(midi))
    assert samples.size / rate == pytest.approx(max(n.end for n in read_notes(midi)) + RELEASE_SECONDS, abs=0.01)


def test_silence_for_a_score_without_notes():
    samples, _ = decode(midi_to_wav(acai_hf.to_midi(acai_hf.join_systems([]))))
    assert not samples.any()


def test_music_longer_than_the_cap_is_refused():
    eleven_minutes = smf([(0, tempo(60)), (0, b"\x90\x3c\x40"), (480 * 660, b"\x80\x3c\x00")])
    with pytest.raises(ValueError, match="limited to 10 minutes"):
        midi_to_wav(eleven_minutes)


@pytest.mark.parametrize("data", [b"", b"RIFF0000WAVE", b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x09\x00\x90",
                                  smf([(0, b"\x3c\x40")]), "MThd"])
def test_bad_midi_is_a_clear_error(data):
    with pytest.raises(ValueError, match="MIDI"):
        midi_to_wav(data)
