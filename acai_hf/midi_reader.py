"""A small standard MIDI file reader: the notes of a file, timed in seconds through its tempo map.

Enough for playback of what music21 (or any sequencer) writes: formats 0 and 1 (format 2's independent
sequences are read as if simultaneous), running status, metrical and SMPTE divisions, tempo changes
in any track, note-on with velocity 0 as note-off, overlapping notes of one key (first in, first out).
Everything else (controllers, programs, sysex, other meta events) is skipped.
"""
import struct
from collections import defaultdict, deque
from dataclasses import dataclass

DEFAULT_TEMPO = 500_000  # microseconds per quarter note: 120 bpm, as the standard prescribes
MAX_EVENTS = 2_000_000  # far above any piano score; stops a crafted file from running for ever


@dataclass(frozen=True)
class Note:
    start: float  # seconds
    end: float  # seconds
    pitch: int  # MIDI key, 60 = middle C
    velocity: int  # 1..127
    channel: int


def read_notes(midi_bytes: bytes) -> list[Note]:
    """The notes of a standard MIDI file, sorted by start time. ValueError when it is not one."""
    if not isinstance(midi_bytes, (bytes, bytearray, memoryview)):
        raise ValueError(f"MIDI must be bytes, not {type(midi_bytes).__name__}")
    data = bytes(midi_bytes)
    if data[:4] != b"MThd" or len(data) < 14:
        raise ValueError("Not a standard MIDI file: it does not start with an MThd header")
    header_length, _format, track_count, division = struct.unpack(">IHHH", data[4:14])
    tracks = _track_chunks(data, 8 + header_length, track_count)
    events = [event for track in tracks for event in _track_events(track)]
    events.sort(key=lambda event: (event[0], event[1]))  # by tick; at one tick, note-offs first
    return _notes(events, _seconds_per_tick(division))


def _track_chunks(data: bytes, offset: int, track_count: int) -> list[bytes]:
    tracks = []
    while offset + 8 <= len(data) and len(tracks) < track_count:
        kind, length = struct.unpack(">4sI", data[offset:offset + 8])
        offset += 8
        if offset + length > len(data):
            raise ValueError("Not a standard MIDI file: a chunk runs past the end of the file")
        if kind == b"MTrk":  # other chunk kinds are to be skipped, says the standard
            tracks.append(data[offset:offset + length])
        offset += length
    return tracks


# event kinds, in the order events at one tick are handled
TEMPO, NOTE_OFF, NOTE_ON = 0, 1, 2


def _track_events(track: bytes):
    """(tick, kind, value...) tuples: tempo changes, note-ons and note-offs."""
    position = tick = 0
    status = None
    count = 0
    while position < len(track):
        count += 1
        if count > MAX_EVENTS:
            raise ValueError(f"The MIDI file has more than {MAX_EVENTS:,} events")
        delta, position = _variable_length(track, position)
        tick += delta
        if position >= len(track):
            raise ValueError("Not a standard MIDI file: a track ends inside an event")
        if track[position] & 0x80:
            status = track[position]
            position += 1
        elif status is None or status >= 0xF0:
            raise ValueError("Not a standard MIDI file: running status without a status byte")
        if status == 0xFF:
            meta_type = _byte(track, position)
            length, position = _variable_length(track, position + 1)
            if meta_type == 0x51 and length == 3:
                yield tick, TEMPO, int.from_bytes(track[position:position + 3], "big")
            elif meta_type == 0x2F:
                return  # end of track
            position += length
            status = None  # meta and sysex events cancel running status
        elif status in (0xF0, 0xF7):
            length, position = _variable_length(track, position)
            position += length
            status = None
        else:
            kind, channel = status & 0xF0, status & 0x0F
            size = 1 if kind in (0xC0, 0xD0) else 2
            if position + size > len(track):
                raise ValueError("Not a standard MIDI file: a track ends inside an event")
            if kind == 0x90 and track[position + 1] > 0:
                yield tick, NOTE_ON, channel, track[position], track[position + 1]
            elif kind in (0x80, 0x90):
                yield tick, NOTE_OFF, channel, track[position]
            position += size


def _variable_length(data: bytes, position: int) -> tuple[int, int]:
    value = 0
    for _ in range(4):
        byte = _byte(data, position)
        position += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, position
    raise ValueError("Not a standard MIDI file: a variable-length number is longer than 4 bytes")


def _byte(data: bytes, position: int) -> int:
    if position >= len(data):
        raise ValueError("Not a standard MIDI file: a track ends inside an event")
    return data[position]


def _seconds_per_tick(division: int):
    """tempo (microseconds per quarter) -> seconds per tick."""
    if division & 0x8000:  # SMPTE: frames per second and ticks per frame; tempo does not apply
        frames = 256 - (division >> 8)
        frames = 29.97 if frames == 29 else frames
        ticks_per_frame = division & 0xFF
        if ticks_per_frame == 0:
            raise ValueError("Not a standard MIDI file: zero ticks per frame")
        return lambda tempo: 1.0 / (frames * ticks_per_frame)
    if division == 0:
        raise ValueError("Not a standard MIDI file: zero ticks per quarter note")
    return lambda tempo: tempo / 1e6 / division


def _notes(events, seconds_per_tick) -> list[Note]:
    notes = []
    sounding = defaultdict(deque)  # (channel, key) -> start times and velocities, oldest first
    tempo, last_tick, now = DEFAULT_TEMPO, 0, 0.0
    for event in events:
        tick, kind = event[0], event[1]
        now += (tick - last_tick) * seconds_per_tick(tempo)
        last_tick = tick
        if kind == TEMPO:
            tempo = event[2] or DEFAULT_TEMPO
        elif kind == NOTE_ON:
            _, _, channel, key, velocity = event
            sounding[channel, key].append((now, velocity))
        elif sounding[event[2], event[3]]:
            start, velocity = sounding[event[2], event[3]].popleft()
            notes.append(Note(start, now, event[3], velocity, event[2]))
    # notes never released stop with the last event, as a sequencer would stop them
    for (channel, key), starts in sounding.items():
        notes += [Note(start, now, key, velocity, channel) for start, velocity in starts]
    return sorted(notes, key=lambda note: (note.start, note.pitch))
