"""training/release/ship.py: the shipped folder loads in float32 from float16 weights, stays small, replaces
atomically."""
import json

import pytest

from tiny_omr_model import save_tiny_model


@pytest.fixture
def tiny(tmp_path, one_torch_thread):
    from acai_hf.model.loading import load

    return load(str(save_tiny_model(tmp_path / "candidate")))


def test_shipped_folder_loads_in_float32_with_the_same_logits(tiny, tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from training.release.ship import write_shipped_folder

    model, processor = tiny
    out = tmp_path / "checkpoints" / "acai-omr-small"
    size = write_shipped_folder(model, processor, out, {"dev": {"ser": 0.5}})
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is untouched
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        assert {weights.get_tensor(k).dtype for k in weights.keys()} == {torch.float16}
    assert size == sum(f.stat().st_size for f in out.iterdir())
    assert json.loads((out / "metrics.json").read_text())["dev"]["ser"] == 0.5

    shipped = AutoModelForImageTextToText.from_pretrained(str(out)).eval()
    assert next(shipped.parameters()).dtype == torch.float32
    AutoProcessor.from_pretrained(str(out))
    pixels = torch.rand(1, 1, 32, 96)
    labels = torch.tensor([[5, 6, 7, 2]])
    with torch.no_grad():
        a = model(pixel_values=pixels, labels=labels).logits
        b = shipped(pixel_values=pixels, labels=labels).logits
    assert torch.allclose(a, b, atol=2e-2)
    assert not (out.parent / "acai-omr-small.tmp").exists()


def test_replacing_keeps_one_folder_and_the_size_cap_refuses(tiny, tmp_path, monkeypatch):
    import training.release.ship as ship

    model, processor = tiny
    out = tmp_path / "checkpoints" / "acai-omr-small"
    ship.write_shipped_folder(model, processor, out, {"n": 1})
    ship.write_shipped_folder(model, processor, out, {"n": 2})
    assert json.loads((out / "metrics.json").read_text()) == {"n": 2}
    assert sorted(p.name for p in out.parent.iterdir()) == ["acai-omr-small"]
    monkeypatch.setattr(ship, "MAX_BYTES", 1000)
    with pytest.raises(ValueError, match="MiB"):
        ship.write_shipped_folder(model, processor, out, {"n": 3})
    assert json.loads((out / "metrics.json").read_text()) == {"n": 2}  # the old model is still there
