"""Property tests: delinearize never raises, and what it returns is a valid, classified answer."""
import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lmx.linearization.vocabulary import ALL_TOKENS
from lmx.symbolic.part_to_score import part_to_score

from acai_hf import delinearize
from acai_hf.music.musicxml_schema import validate_musicxml
from conftest import load_vectors

# derandomized: the same examples on every run, no example database
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

GOLD_LMX = sorted({case["gold_lmx"] for case in load_vectors()})
vocabulary_token = st.sampled_from(ALL_TOKENS)
garbage_token = st.text(min_size=1, max_size=12).filter(lambda s: s.split() == [s])
token = st.one_of(vocabulary_token, vocabulary_token, vocabulary_token, garbage_token)
separator = st.sampled_from([" ", "  ", "\n", "\t"])


@st.composite
def token_strings(draw):
    tokens = draw(st.lists(token, max_size=120))
    return "".join(t + draw(separator) for t in tokens)


@st.composite
def mutated_golds(draw):
    tokens = draw(st.sampled_from(GOLD_LMX)).split()
    for _ in range(draw(st.integers(1, 8))):
        operation = draw(st.sampled_from(["delete", "insert", "substitute", "swap", "truncate"]))
        at = draw(st.integers(0, max(len(tokens) - 1, 0)))
        if operation == "insert":
            tokens.insert(at, draw(token))
        elif not tokens:
            continue
        elif operation == "delete":
            del tokens[at]
        elif operation == "substitute":
            tokens[at] = draw(token)
        elif operation == "swap":
            other = draw(st.integers(0, len(tokens) - 1))
            tokens[at], tokens[other] = tokens[other], tokens[at]
        else:
            del tokens[at:]
    return " ".join(tokens)


def check_answer(lmx: str):
    part, errors = delinearize(lmx)
    terminals = lmx.split()
    assert isinstance(part, ET.Element) and part.tag == "part"
    assert all(e.severity in ("minor", "catastrophic") and e.message for e in errors)
    assert all(e.position is None or 0 <= e.position <= len(terminals) for e in errors)
    catastrophic = "catastrophic" in [e.severity for e in errors]
    assert catastrophic == ("measure" not in terminals)
    assert len(part) == terminals.count("measure")
    # tokens before the first measure are reported one by one, and are not fatal
    if "measure" in terminals:
        first = terminals.index("measure")
        reported = {e.position for e in errors}
        assert set(range(first)) <= reported
    return part


def check_valid(part: ET.Element):
    if len(part):  # MusicXML needs a measure; without one the answer is the bare part
        assert validate_musicxml(part_to_score(part, part_id="P1", musicxml_version="4.0")) == []


@FUZZ
@given(token_strings())
def test_random_tokens(lmx):
    check_valid(check_answer(lmx))


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text(lmx):
    check_answer(lmx)


@FUZZ
@given(st.lists(vocabulary_token, max_size=60).map(lambda ts: "measure " + " ".join(ts)))
def test_one_measure_of_vocabulary(lmx):
    check_valid(check_answer(lmx))


@FUZZ
@given(mutated_golds())
def test_mutated_golds(lmx):
    check_valid(check_answer(lmx))


@FUZZ
@given(st.lists(vocabulary_token.filter(lambda t: t != "measure"), min_size=1, max_size=5),
       st.sampled_from(GOLD_LMX))
def test_tokens_before_the_first_measure_are_not_fatal(prefix, gold):
    part, errors = delinearize(" ".join(prefix) + " " + gold)
    assert [e.position for e in errors[:len(prefix)]] == list(range(len(prefix)))
    assert all(e.severity == "minor" for e in errors)
    assert len(part) == gold.split().count("measure")
