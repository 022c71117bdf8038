"""Did the model read the key and time signature a system opens with?

SER weighs a wrong key like any one wrong token, yet to a musician it spoils every note after it, and a
wrong time signature on a piece's first system makes every measure of the joined score look under- or
overfull. LMX repeats the key at every system start and prints a time signature only where engraved.
"""
from dataclasses import dataclass

# the tokens that write a key or a time signature ("key:fifths:-2", "beats:3", "beat-type:4")
KEY_PREFIX = "key:"
TIME_PREFIXES = ("beats:", "beat-type:")
SIGNATURE_PREFIXES = (KEY_PREFIX, *TIME_PREFIXES)
COMMONEST_TIME = "4/4"


@dataclass(frozen=True)
class OpeningSignatures:
    key: str | None  # "key:fifths:-2"
    time: str | None  # "3/4"


def opening_signatures(lmx: str) -> OpeningSignatures:
    """The first key and the first time signature a system's LMX writes (None where it writes none)."""
    tokens = lmx.split()
    key = next((token for token in tokens if token.startswith("key:")), None)
    time = None
    for index, token in enumerate(tokens[:-1]):
        following = tokens[index + 1]
        if token.startswith("beats:") and following.startswith("beat-type:"):
            time = f"{token.split(':', 1)[1]}/{following.split(':', 1)[1]}"
            break
    return OpeningSignatures(key, time)


def is_signature_token(token: str) -> bool:
    return token.startswith(SIGNATURE_PREFIXES)


def signature_accuracy(predictions, gold_lmx) -> dict:
    """Share of systems whose opening key / time signature matches the gold's, over the systems whose gold
    writes one; the same over the time signatures other than 4/4 (a model that always writes 4/4 scores
    well on the first share and 0 on this one); and the share of systems without a printed time signature
    where the prediction invents one."""
    keys = times = keys_right = times_right = without_time = times_invented = others = others_right = 0
    for prediction, gold in zip(predictions, gold_lmx):
        said, truth = opening_signatures(prediction), opening_signatures(gold)
        if truth.key is not None:
            keys += 1
            keys_right += said.key == truth.key
        if truth.time is not None:
            times += 1
            times_right += said.time == truth.time
            if truth.time != COMMONEST_TIME:
                others += 1
                others_right += said.time == truth.time
        else:
            without_time += 1
            times_invented += said.time is not None
    return {
        "key_right": keys_right / keys if keys else None, "keys_judged": keys,
        "time_right": times_right / times if times else None, "times_judged": times,
        "time_right_not_4_4": others_right / others if others else None, "times_not_4_4_judged": others,
        "time_invented": times_invented / without_time if without_time else None,
    }


__all__ = ["COMMONEST_TIME", "KEY_PREFIX", "SIGNATURE_PREFIXES", "TIME_PREFIXES", "OpeningSignatures", "is_signature_token", "opening_signatures", "signature_accuracy"]
