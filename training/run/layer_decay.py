"""Param groups with layer-wise LR decay for AcaiOMRForConditionalGeneration (cf. mae's util/lr_decay.py).

The decoder and the transition head are new to the task and learn at `decoder_lr`; the pretrained
encoder learns at `encoder_lr` in its top layer (and its final norm), times `decay` per layer below
it; the patch stem sits one step under the lowest layer. Biases, norms and position tables take no
weight decay (as in nanoGPT, token embeddings and matrices do).
"""


def encoder_layer_id(name: str, num_layers: int) -> int:
    """Depth of an encoder parameter: 0 for the stem, i + 1 for layers.i, num_layers for the final norm."""
    if name.startswith("embeddings."):
        return 0
    if name.startswith("layers."):
        return int(name.split(".")[1]) + 1
    return num_layers


POSITION_TABLES = ("embed_positions.weight", "row_embeddings.weight", "column_embeddings.weight")


def no_weight_decay(name: str, param) -> bool:
    return param.ndim < 2 or name.endswith(POSITION_TABLES)


def param_groups(model, decoder_lr: float, encoder_lr: float, decay: float = 0.9, weight_decay: float = 0.01):
    """-> list of optimizer groups, each with `name`, `lr`, `base_lr` (what lr_sched scales) and
    `weight_decay`. Group names: "decoder", "decoder_no_wd", "encoder_<depth>", "encoder_<depth>_no_wd"."""
    num_layers = model.config.encoder.num_hidden_layers
    groups = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if name.startswith("encoder."):
            depth = encoder_layer_id(name[len("encoder."):], num_layers)
            key, lr = f"encoder_{depth}", encoder_lr * decay ** (num_layers - depth)
        else:  # decoder, transition head
            key, lr = "decoder", decoder_lr
        wd = 0.0 if no_weight_decay(name, param) else weight_decay
        if wd == 0.0:
            key += "_no_wd"
        group = groups.setdefault(key, {"name": key, "params": [], "lr": lr, "base_lr": lr, "weight_decay": wd})
        group["params"].append(param)
    return list(groups.values())


def scale_base_lrs(optimizer, decoder_lr: float, encoder_lr: float, decay: float, num_layers: int) -> None:
    """Re-derive each named group's base_lr (e.g. when a resumed run is given a new learning rate)."""
    for group in optimizer.param_groups:
        key = group["name"].removesuffix("_no_wd")
        if key == "decoder":
            group["base_lr"] = decoder_lr
        else:
            group["base_lr"] = encoder_lr * decay ** (num_layers - int(key.split("_")[1]))


__all__ = ["param_groups", "encoder_layer_id", "no_weight_decay", "scale_base_lrs"]
