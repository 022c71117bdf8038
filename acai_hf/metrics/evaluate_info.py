"""What the `evaluate` modules lmx_ser and lmx_tedn share: their citation and their input features."""
import datasets

OLIMPIC_CITATION = """
@inproceedings{mayer2024practical,
  title={Practical End-to-End Optical Music Recognition for Pianoform Music},
  author={Mayer, Ji{\\v{r}}{\\'i} and Straka, Milan and Haji{\\v{c}} jr., Jan and Pecina, Pavel},
  booktitle={Document Analysis and Recognition - ICDAR 2024},
  year={2024}
}
"""

# one predicted LMX string against one gold (LMX for SER, MusicXML for TEDn)
PREDICTION_REFERENCE_FEATURES = datasets.Features(
    {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
)
