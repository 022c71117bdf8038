"""`--push-to-hub REPO`: a model card for a saved model folder, then create_repo + upload_folder."""
import json
from pathlib import Path

CARD = """---
library_name: transformers
pipeline_tag: image-to-text
license: mit
tags:
- optical-music-recognition
- lmx
- acai-omr
---

# {name}

Acai OMR: reads an image of one grand-staff (piano) system and writes its music as LMX tokens
(Linearized MusicXML, the OLiMPiC format). A ViT encoder over grayscale images, an MLP transition
head and a causal transformer decoder, trained with scheduled sampling.

## Use

```python
import acai_hf  # registers the model with the Auto classes
from transformers import AutoModelForImageTextToText, AutoProcessor

model = AutoModelForImageTextToText.from_pretrained("{repo}")
processor = AutoProcessor.from_pretrained("{repo}")
inputs = processor(images=[system_image])
lmx = processor.batch_decode(model.generate(**inputs))
```

## Training

- preset: `{preset}`, {parameters:,} parameters
- data: `{dataset}`
- steps: {steps} (batch {batch}), precision {precision}
- schedule: scheduled sampling (tf_prob 1 -> 0, Gumbel tau 5 -> 0.1, straight-through in the last half),
  layer-wise LR decay, AdamW, warm-up + cosine

## Dev metrics (greedy decoding)

{metrics}
"""


def model_card(repo: str, info: dict, metrics: dict | None) -> str:
    rows = "\n".join(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |"
                     for k, v in (metrics or {}).items())
    table = f"| metric | value |\n|---|---|\n{rows}" if rows else "(none measured)"
    return CARD.format(name=repo.split("/")[-1], repo=repo, metrics=table, **info)


def push_folder(folder, repo: str, info: dict, private: bool = False, token=None) -> str:
    """Writes README.md into `folder` and uploads the folder; returns the commit URL/info as text."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    metrics_file = folder / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
    (folder / "README.md").write_text(model_card(repo, info, metrics))
    api = HfApi(token=token)
    api.create_repo(repo, private=private, exist_ok=True)
    commit = api.upload_folder(folder_path=str(folder), repo_id=repo, commit_message="Upload Acai OMR model")
    return str(commit)


__all__ = ["push_folder", "model_card"]
