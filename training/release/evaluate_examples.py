"""How a model reads the bundled example pages (examples/*.png), system by system, with their sidecar boxes.

    python -m training.release.evaluate_examples [--model DIR] [--systems N]

For each page, the first N systems (default 1) are cropped with the boxes in the page's sidecar JSON,
transcribed as the app does (greedy, grammar-constrained) and scored against the sidecar's LMX: SER
and the number of measures written against the number engraved. The app's own check of the first
system (issue #7) is `--systems 1`.
"""
import argparse
import json
from pathlib import Path

from acai_hf.metrics.ser import corpus_ser
from acai_hf.model.loading import load
from acai_hf.transcription import transcribe

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


def evaluate_page(page_path: Path, model, processor, systems: int = 1) -> list[dict]:
    from PIL import Image

    meta = json.loads(page_path.with_suffix(".json").read_text(encoding="utf-8"))
    page = Image.open(page_path)
    golds = meta["systems"][:systems]
    crops = [page.crop(tuple(s["box"][k] for k in ("left", "top", "right", "bottom"))) for s in golds]
    result = transcribe(crops, model=model, processor=processor)
    return [{"page": page_path.stem, "system": index + 1, "ser": corpus_ser([text], [gold["lmx"]]).value,
             "measures": text.split().count("measure"), "measures_engraved": gold["n_measures"]}
            for index, (text, gold) in enumerate(zip(result.systems, golds))]


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--systems", type=int, default=1, help="systems per page, from the top")
    args = parser.parse_args(argv)
    model, processor = load(args.model)
    rows = [row for page in sorted(EXAMPLES_DIR.glob("*.png")) for row in evaluate_page(page, model, processor,
                                                                                       args.systems)]
    print("| page | system | SER | measures written / engraved |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['page']} | {row['system']} | {row['ser']:.3f} | {row['measures']} / {row['measures_engraved']} |")
    return rows


if __name__ == "__main__":
    main()
