"""Symbol error rate of predicted LMX, as an `evaluate` module (load it by path, offline)."""
import evaluate
from acai_hf.metrics.evaluate_info import OLIMPIC_CITATION
from acai_hf.metrics.evaluate_info import PREDICTION_REFERENCE_FEATURES
from acai_hf.metrics.ser import corpus_ser

_DESCRIPTION = """
Symbol error rate (SER): the token-level Levenshtein distance between predicted and gold LMX
(Linearized MusicXML), split on whitespace, summed over the corpus and divided by the summed
gold length (a micro-average, as in the OLiMPiC evaluation). Unknown tokens count as errors.
"""

_INPUTS = """
Args:
    predictions: predicted LMX strings.
    references: gold LMX strings.
Returns:
    ser: corpus SER as a fraction (not a percentage); can exceed 1.
    distance: summed token edit distance.
    gold_len: summed number of gold tokens.
"""


class LmxSer(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=OLIMPIC_CITATION,
            inputs_description=_INPUTS,
            features=PREDICTION_REFERENCE_FEATURES,
        )

    def _compute(self, predictions, references):
        result = corpus_ser(predictions, references)
        return {"ser": result.value, "distance": result.distance, "gold_len": result.gold_len}
