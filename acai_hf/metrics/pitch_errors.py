"""How far off is a wrong pitch? Substituted pitches by diatonic distance.

LMX writes a pitch as a step and an octave ("E4"; accidentals are tokens of their own), so the distance
between a predicted and a gold pitch token is a count of staff positions. One step off means the model
found the notehead but misplaced it by half a staff space (vertical precision); an octave off means it
read the wrong clef or staff; far off means it did not look at the right note at all.
"""
import difflib

from lmx.linearization.vocabulary import PITCH_TOKENS

STEPS = "CDEFGAB"
CLEF_PITCHES = {"G": "G4", "C": "C4", "F": "F3"}  # the pitch on the clef's line
OPENING_CLEFS = {1: "clef:G2", 2: "clef:F4"}  # in force until the system says otherwise


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


def bottom_line(clef: str) -> int:
    """Staff position of the bottom line under a clef token ("clef:G2" -> E4's 30)."""
    sign, line = clef[len("clef:")], int(clef[len("clef:") + 1:])
    return staff_position(CLEF_PITCHES[sign]) - 2 * (line - 1)


def pitch_places(lmx: str) -> list[tuple[str, str]]:
    """(pitch token, place) for every pitch of a system: "ledger" when it stands on or beyond the first
    ledger line above or below its staff, else "staff"; a chord's added notes are "chord" whatever their
    height. A note's staff is the `staff:N` token of its own note, else the last one written (LMX writes it
    only when it changes); its clef the last `clef:X staff:N` of that staff."""
    tokens = lmx.split()
    clefs, staff, places = dict(OPENING_CLEFS), 1, []
    for i, token in enumerate(tokens):
        if token.startswith("clef:") and i + 1 < len(tokens) and tokens[i + 1] in ("staff:1", "staff:2"):
            clefs[int(tokens[i + 1][-1])] = token
        if token not in PITCH_TOKENS:
            continue
        for later in tokens[i + 1:]:
            if later in PITCH_TOKENS or later == "measure":
                break
            if later in ("staff:1", "staff:2"):
                staff = int(later[-1])
                break
        if i > 0 and tokens[i - 1] == "chord":
            places.append((token, "chord"))
            continue
        height = staff_position(token) - bottom_line(clefs[staff])  # 0 bottom line .. 8 top line
        places.append((token, "ledger" if height <= -2 or height >= 10 else "staff"))
    return places


def pitch_misses_by_place(predictions, gold_lmx) -> dict:
    """Per place (acai_hf.metrics.pitch_errors.pitch_places of the gold): how many gold pitches, and the
    share the prediction does not write where the aligned pitch sequences pair them (substituted or left
    out). Tells whether ledger lines or chords are what the model misreads."""
    counts = {"staff": [0, 0], "ledger": [0, 0], "chord": [0, 0]}
    for prediction, gold in zip(predictions, gold_lmx):
        places = pitch_places(gold)
        predicted = [token for token in prediction.split() if token in PITCH_TOKENS]
        matcher = difflib.SequenceMatcher(a=[pitch for pitch, _ in places], b=predicted, autojunk=False)
        for operation, g1, g2, _, _ in matcher.get_opcodes():
            for _, place in places[g1:g2]:
                counts[place][0] += 1
                counts[place][1] += operation != "equal"
    return {place: {"gold": gold, "missed": missed / gold if gold else None}
            for place, (gold, missed) in counts.items()}


__all__ = ["staff_position", "substituted_pitches", "pitch_error_distances", "bottom_line", "pitch_places",
           "pitch_misses_by_place"]
