"""TEDn of predicted LMX against gold MusicXML, as an `evaluate` module (load it by path, offline)."""
import evaluate
from acai_hf.metrics.evaluate_info import OLIMPIC_CITATION
from acai_hf.metrics.evaluate_info import PREDICTION_REFERENCE_FEATURES
from acai_hf.metrics.tedn import corpus_tedn

_DESCRIPTION = """
TEDn: the tree edit distance that turns the delinearized prediction into the gold MusicXML
<part>, summed over the corpus and divided by the summed cost of building the gold parts from
scratch (a micro-average). Reproduces the OLiMPiC reference implementation exactly. The "lmx"
flavour first prunes both trees to what LMX can encode; "full" compares them unpruned.
"""

_INPUTS = """
Args:
    predictions: predicted LMX strings.
    references: gold MusicXML strings (score-partwise with one part).
    flavor: "lmx" (default) or "full".
    workers: processes to use; None uses all cores, 1 stays in-process.
Returns:
    tedn: corpus TEDn as a fraction (not a percentage); can exceed 1.
    edit_cost: summed edit costs.
    gold_cost: summed gold costs.
    delinearizer_crashed: whether any prediction could not be delinearized (scored as empty).
"""


class LmxTedn(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=OLIMPIC_CITATION,
            inputs_description=_INPUTS,
            features=PREDICTION_REFERENCE_FEATURES,
        )

    def _compute(self, predictions, references, flavor="lmx", workers=None):
        result = corpus_tedn(predictions, references, flavor=flavor, workers=workers)
        return {
            "tedn": result.value,
            "edit_cost": result.edit_cost,
            "gold_cost": result.gold_cost,
            "delinearizer_crashed": result.delinearizer_crashed,
        }
