"""A standard MIDI file of a score, written by music21."""


def to_midi(score) -> bytes:
    """A standard MIDI file of a score: MusicXML text (or bytes) or a music21 stream."""
    from music21 import converter
    from music21.midi.translate import streamToMidiFile

    if isinstance(score, bytes):
        score = score.decode("utf-8")
    if isinstance(score, str):
        score = converter.parse(score, format="musicxml")
    return streamToMidiFile(score).writestr()


__all__ = ["to_midi"]
