"""Systems whose key stands alone: a system that opens in a key unlike the systems on both sides of it,
which agree with each other.

LMX repeats the key at every system start, so each system's reading of it can be compared with its
neighbours'. A key that changes for one system and changes back at the next is rare in printed music
(a real change is kept for more than one system), and a misread key signature spoils every note after
it, so such a system is worth a look before anything else on the page. It is a hint, not a correction:
the page may really do it.
"""
from dataclasses import dataclass

from acai_hf.metrics.signatures import KEY_PREFIX, opening_signatures


@dataclass(frozen=True)
class LoneKey:
    system: int  # 0-based index of the system
    key: str  # what it opens with ("key:fifths:-1")
    neighbours_key: str  # what the systems on both sides are in


def key_in_force_at_end(lmx: str) -> str | None:
    """The last key a system writes (its opening key, or a change inside it)."""
    return next((token for token in reversed(lmx.split()) if token.startswith(KEY_PREFIX)), None)


def lone_keys(systems: list[str]) -> list[LoneKey]:
    """Each system (not the first or last) whose opening key differs from the key in force at the end of
    the system before it and from the opening key of the system after it, those two being the same."""
    found = []
    for index in range(1, len(systems) - 1):
        before = key_in_force_at_end(systems[index - 1])
        own = opening_signatures(systems[index]).key
        after = opening_signatures(systems[index + 1]).key
        if None not in (before, own, after) and before == after != own:
            found.append(LoneKey(index, own, before))
    return found


def key_in_words(key: str) -> str:
    """'key:fifths:-2' -> '2 flats'; 'key:fifths:0' -> 'no sharps or flats'; the token itself if unreadable."""
    try:
        fifths = int(key.rsplit(":", 1)[1])
    except ValueError:
        return key
    if fifths == 0:
        return "no sharps or flats"
    kind = "sharp" if fifths > 0 else "flat"
    count = abs(fifths)
    return f"{count} {kind}{'s' if count > 1 else ''}"


def lone_key_warning(lone: LoneKey) -> str:
    """What to tell the reader about one system whose key stands alone (1-based system numbers)."""
    number = lone.system + 1
    return (f"system {number} opens with {key_in_words(lone.key)}, systems {number - 1} and {number + 1} with "
            f"{key_in_words(lone.neighbours_key)}: check its key signature")
