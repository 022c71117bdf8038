"""How far off is a wrong pitch? Substituted pitches by diatonic distance.

LMX writes a pitch as a step and an octave ("E4"; accidentals are tokens of their own), so the distance
between a predicted and a gold pitch token is a count of staff positions. One step off means the model
found the notehead but misplaced it by half a staff space (vertical precision); an octave off means it
read the wrong clef or staff; far off means it did not look at the right note at all.
"""
import difflib

from lmx.linearization.vocabulary import PITCH_TOKENS

STEPS = "CDEFGAB"


def staff_position(pitch: str) -> int:
    """Diatonic steps above C0 ("E4" -> 30)."""
    return int(pitch[1:]) * 7 + STEPS.index(pitch[0])


def substituted_pitches(prediction: str, gold: str) -> list[int]:
    """Signed diatonic distance (predicted - gold) of every pitch the prediction writes in place of a
    gold one, pairing the pitch sequences as difflib aligns them (a pitch left out or added is not counted)."""
    gold_pitches = [token for token in gold.split() if token in PITCH_TOKENS]
    predicted = [token for token in prediction.split() if token in PITCH_TOKENS]
    distances = []
    matcher = difflib.SequenceMatcher(a=gold_pitches, b=predicted, autojunk=False)
    for operation, g1, g2, p1, p2 in matcher.get_opcodes():
        if operation == "replace":
            distances += [staff_position(p) - staff_position(g)
                          for g, p in zip(gold_pitches[g1:g2], predicted[p1:p2])]
    return distances


def pitch_error_distances(predictions, gold_lmx) -> dict:
    """Over all systems: how many pitches were substituted, and the share one step, two steps, an octave and
    anything else away."""
    distances = [abs(d) for p, g in zip(predictions, gold_lmx) for d in substituted_pitches(p, g)]
    count = len(distances)

    def share(accept):
        return sum(accept(d) for d in distances) / count if count else None
    return {
        "pitch_substitutions": count,
        "pitch_off_one_step": share(lambda d: d == 1),
        "pitch_off_two_steps": share(lambda d: d == 2),
        "pitch_off_octave": share(lambda d: d == 7),
        "pitch_off_other": share(lambda d: d not in (1, 2, 7)),
    }


__all__ = ["staff_position", "substituted_pitches", "pitch_error_distances"]
