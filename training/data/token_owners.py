"""Which drawn symbol each LMX token belongs to, recorded while the token is written.

The `lmx` package's Linearizer writes the tokens; this subclass notes, for each one, the element it
came from: a note or rest (by the id we gave it), a measure's start, its key or time signature, a clef
of one staff, or nothing drawn (backup, forward). The tokens are exactly `acai_hf.linearize`'s.
"""
import io
from dataclasses import dataclass

from lmx.linearization.Linearizer import Linearizer

from acai_hf.music.musicxml_input import load_part
from acai_hf.music.voices import renumber_voices


@dataclass(frozen=True)
class Owner:
    kind: str  # "note", "measure", "key", "time", "clef" or "none"
    measure: int  # the measure's position in the system (0 = its first)
    note_id: str | None = None  # kind "note": the <note>'s id attribute
    staff: int | None = None  # kind "clef": the staff it stands on
    clef_index: int = 0  # kind "clef": how many clefs of that staff came before it in the system


NOTHING = Owner("none", -1)


class _OwnerRecordingLinearizer(Linearizer):
    def __init__(self):
        super().__init__(errout=io.StringIO())
        self.owners: list[Owner] = []
        self._owner = NOTHING
        self._measure_index = -1

    def _emit(self, token: str):
        before = len(self.output_tokens)
        super()._emit(token)
        if len(self.output_tokens) > before:
            self.owners.append(self._owner)

    def process_measure(self, measure):
        self._measure_index += 1
        self._owner = Owner("measure", self._measure_index)
        super().process_measure(measure)

    def process_note(self, note, measure):
        self._owner = Owner("note", self._measure_index, note_id=note.get("id"))
        super().process_note(note, measure)

    def process_key_signature(self, key):
        self._owner = Owner("key", self._measure_index)
        super().process_key_signature(key)

    def process_time_signature(self, time):
        self._owner = Owner("time", self._measure_index)
        super().process_time_signature(time)

    def process_clefs(self, clefs):
        self._owner = Owner("clef", self._measure_index)  # the staff is read from the token after
        super().process_clefs(clefs)

    def process_backup(self, backup, measure):
        self._owner = NOTHING
        super().process_backup(backup, measure)

    def process_forward(self, forward):
        self._owner = NOTHING
        super().process_forward(forward)


def token_owners(musicxml: str) -> tuple[list[str], list[Owner]]:
    """The LMX tokens of a one-part score and, aligned one to one, what each belongs to."""
    part = load_part(musicxml)
    renumber_voices(part)
    linearizer = _OwnerRecordingLinearizer()
    linearizer.process_part(part)
    tokens, owners = linearizer.output_tokens, linearizer.owners
    return tokens, _with_clef_staves(tokens, owners)


def _with_clef_staves(tokens: list[str], owners: list[Owner]) -> list[Owner]:
    """A clef token and the `staff:N` after it belong to that staff's clef, counted per staff."""
    seen: dict[int, int] = {}
    fixed = list(owners)
    for index, (token, owner) in enumerate(zip(tokens, owners)):
        if owner.kind != "clef" or not token.startswith("clef:"):
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        staff = int(following.split(":")[1]) if following.startswith("staff:") and owners[index + 1].kind == "clef" else 1
        clef = Owner("clef", owner.measure, staff=staff, clef_index=seen.get(staff, 0))
        seen[staff] = seen.get(staff, 0) + 1
        fixed[index] = clef
        if following.startswith("staff:"):
            fixed[index + 1] = clef
    return fixed
