"""Playback of a transcription: our MIDI played on a General MIDI piano by FluidSynth, as a mono WAV.

FluidSynth (Debian's `fluidsynth`) renders the MIDI through a SoundFont (Debian's `fluid-soundfont-gm`,
FluidR3_GM.sf2); mido reads the MIDI's length first, so music longer than MAX_SECONDS is refused
before any sound is made. The renderer's cost is bounded by that length, one synthesis thread, a
capped polyphony, a lower CPU priority and a wall-clock timeout. Without FluidSynth or a SoundFont
playback is unavailable (PlaybackUnavailable says why), and everything else works.

$ACAI_FLUIDSYNTH and $ACAI_SOUNDFONT name another program or SoundFont.
"""
import io
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

FLUIDSYNTH_ENV = "ACAI_FLUIDSYNTH"
SOUNDFONT_ENV = "ACAI_SOUNDFONT"
# Debian's fluid-soundfont-gm, then the names other distributions give a General MIDI SoundFont
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
              "/usr/share/soundfonts/FluidR3_GM.sf2", "/usr/share/soundfonts/default.sf2")
MAX_SECONDS = 600.0  # ten minutes of music; a page of piano music is one or two
RENDER_TIMEOUT_S = 120  # FluidSynth renders ten minutes of piano in a few seconds on one core
POLYPHONY = 128  # voices at once: a sustained piano chord sequence needs dozens, not FluidSynth's 256
RENDERER_NICENESS = 10  # a render yields the CPU to the model and to other requests
PEAK = 0.9  # of full scale, after normalisation
SILENCE = 1e-3  # a peak below this (-60 dBFS) is no music


class PlaybackUnavailable(RuntimeError):
    """No FluidSynth or no SoundFont on this machine: the app says so instead of playing."""


def midi_length_seconds(midi_bytes: bytes) -> float:
    """How long the MIDI plays, through its tempo map. ValueError when it is not a standard MIDI file."""
    import mido

    if not isinstance(midi_bytes, (bytes, bytearray, memoryview)):
        raise ValueError(f"MIDI must be bytes, not {type(midi_bytes).__name__}")
    data = bytes(midi_bytes)
    if data[:4] != b"MThd":
        raise ValueError("Not a standard MIDI file: it does not start with an MThd header")
    try:
        return float(mido.MidiFile(file=io.BytesIO(data)).length)
    except (OSError, EOFError, ValueError, KeyError, IndexError) as error:
        raise ValueError(f"The MIDI file is malformed ({type(error).__name__}: {error})") from None


def playback_unavailable_reason() -> str | None:
    """None when playback works here, else what is missing."""
    try:
        _fluidsynth(), _soundfont()
    except PlaybackUnavailable as missing:
        return str(missing)
    return None


def midi_to_wav(midi_bytes: bytes, sample_rate: int = 22050, max_seconds: float = MAX_SECONDS) -> bytes:
    """A mono 16-bit WAV of the MIDI on a piano. ValueError for a bad file or one that plays too long;
    PlaybackUnavailable without FluidSynth or a SoundFont."""
    if not 8000 <= sample_rate <= 96_000:
        raise ValueError(f"sample_rate must be between 8000 and 96000 Hz, not {sample_rate}")
    seconds = midi_length_seconds(midi_bytes)
    if seconds > max_seconds:
        raise ValueError(f"The music plays for {seconds / 60:.1f} minutes; playback is limited to "
                         f"{max_seconds / 60:g} minutes")
    program, soundfont = _fluidsynth(), _soundfont()
    with tempfile.TemporaryDirectory(prefix="acai-playback-") as directory:
        midi_path, wav_path = Path(directory) / "score.mid", Path(directory) / "score.wav"
        midi_path.write_bytes(bytes(midi_bytes))
        _render(program, soundfont, midi_path, wav_path, sample_rate)
        samples = _mono(wav_path.read_bytes())
    return _wav_bytes(_normalised(samples), sample_rate)


def _fluidsynth() -> str:
    chosen = os.environ.get(FLUIDSYNTH_ENV)
    program = shutil.which(chosen or "fluidsynth")
    if program is None:
        raise PlaybackUnavailable(f"FluidSynth is not installed ({chosen or 'fluidsynth'} not found; "
                                  "apt-get install fluidsynth fluid-soundfont-gm)")
    return program


def _soundfont() -> str:
    chosen = os.environ.get(SOUNDFONT_ENV)
    for path in ((chosen,) if chosen else SOUNDFONTS):
        if os.path.isfile(path):
            return path
    raise PlaybackUnavailable(f"no General MIDI SoundFont ({chosen or SOUNDFONTS[0]} not found; "
                              "apt-get install fluid-soundfont-gm)")


def _render(program: str, soundfont: str, midi_path: Path, wav_path: Path, sample_rate: int) -> None:
    command = [program, "-n", "-i", "-q", "-F", str(wav_path), "-T", "wav", "-O", "s16", "-r", str(sample_rate),
               "-o", "synth.cpu-cores=1", "-o", f"synth.polyphony={POLYPHONY}", "-o", "synth.chorus.active=0",
               soundfont, str(midi_path)]
    renderer = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        os.setpriority(os.PRIO_PROCESS, renderer.pid, RENDERER_NICENESS)
    except OSError:  # it may have finished already
        pass
    try:
        _, errors = renderer.communicate(timeout=RENDER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        renderer.kill()
        renderer.communicate()
        raise ValueError(f"rendering the audio took over {RENDER_TIMEOUT_S} s") from None
    if renderer.returncode != 0 or not wav_path.is_file():
        detail = errors.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {renderer.returncode}"]
        raise ValueError(f"FluidSynth could not play the MIDI ({detail[0][:200]})")


def _mono(wav_bytes: bytes) -> np.ndarray:
    """FluidSynth's stereo 16-bit frames as one channel of floats."""
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        channels, frames = wav.getnchannels(), wav.readframes(wav.getnframes())
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768
    return samples.reshape(-1, channels).mean(axis=1)


def _normalised(samples: np.ndarray) -> np.ndarray:
    peak = np.max(np.abs(samples), initial=0.0)
    if peak < SILENCE:  # FluidSynth's idle output is a least significant bit of offset: not to be amplified
        return np.zeros_like(samples)
    return samples * (PEAK / peak)


def _wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.tobytes())
    return buffer.getvalue()


__all__ = ["midi_to_wav", "midi_length_seconds", "playback_unavailable_reason", "PlaybackUnavailable",
           "MAX_SECONDS"]
