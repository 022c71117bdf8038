"""Inference speed on this CPU: seconds per system for `small` and `base`, and what the KV cache buys.

Every case runs in its own process (so its peak resident memory is its own), with random weights,
forced to generate exactly --tokens tokens (<eos> does not stop a sequence) from a synthetic system
image processed as the app would. Prints one table; the figures go into the README. The length is
forced by leaving out the stop on <eos>, not by a min-length logits processor: transformers runs such
a processor on every step (a signature inspection, a copy of the scores), a cost that is not decoding's.

    python bench/inference.py                   # small at batch 1 and 4, base at 1 and 4, cache speed-up
                                                # at batch 1 and 4 (the app decodes a page 4 systems at a time)
    python bench/inference.py --cases small:4   # one case
    python bench/inference.py --threads 1       # when other processes share the 2 cores (steadier)
    python bench/inference.py --repeats 5       # each case's fastest of 5 runs (default 3): a shared
                                                # machine only ever adds time
    python bench/inference.py --cases small:4:int8   # int8 decoder weights (acai_hf.model.quantization_acai)
    python bench/inference.py --cases small:4:bare   # the floor: the decoding step's tensor operations
                                                     # in a bare loop (no generate(), no modules)
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

DEFAULT_CASES = ["small:1:cache", "small:4:cache", "small:4:int8", "small:1:nocache", "small:4:nocache",
                 "base:1:cache", "base:4:cache"]
# (target height, patch budget) the image processor uses for each preset
IMAGE_SETTINGS = {"small": (160, 640), "base": (256, 1024), "tiny": (32, 64)}


def bare_decoding_seconds(model, encoder_states, tokens: int) -> float:
    """The cached decoding step's tensor operations (LayerNorm, fused q/k/v projection, SDPA on a
    preallocated self-attention cache and on precomputed cross-attention keys/values, MLP, head) in a
    bare loop: what the kernels alone cost, without generate(), modules or cache bookkeeping."""
    import torch
    import torch.nn.functional as F

    decoder, config = model.decoder, model.config.decoder
    batch, patches, dim = encoder_states.shape
    heads = config.num_attention_heads
    eps = config.layer_norm_eps
    cross = []
    for layer in decoder.layers:
        key, value = F.linear(encoder_states, layer.cross_kv.weight, layer.cross_kv.bias).view(
            batch, patches, 2, heads, -1).permute(2, 0, 3, 1, 4)
        cross.append((key.contiguous(), value.contiguous()))
    cache = encoder_states.new_empty(len(decoder.layers), 2, batch, heads, tokens, dim // heads)

    def step(token, t):
        x = decoder.embed_tokens(token) + decoder.embed_positions.weight[t]
        for i, layer in enumerate(decoder.layers):
            qkv = F.linear(F.layer_norm(x, (dim,), layer.norm1.weight, layer.norm1.bias, eps),
                           layer.qkv.weight, layer.qkv.bias).view(batch, 3, heads, -1)
            cache[i, :, :, :, t] = qkv[:, 1:].transpose(0, 1)
            out = F.scaled_dot_product_attention(qkv[:, 0, :, None], cache[i, 0, :, :, : t + 1],
                                                 cache[i, 1, :, :, : t + 1])
            x = x + F.linear(out.view(batch, dim), layer.self_out.weight, layer.self_out.bias)
            query = F.linear(F.layer_norm(x, (dim,), layer.norm2.weight, layer.norm2.bias, eps),
                             layer.cross_q.weight, layer.cross_q.bias).view(batch, heads, 1, -1)
            out = F.scaled_dot_product_attention(query, *cross[i])
            x = x + F.linear(out.view(batch, dim), layer.cross_out.weight, layer.cross_out.bias)
            hidden = F.layer_norm(x, (dim,), layer.norm3.weight, layer.norm3.bias, eps)
            x = x + layer.mlp.fc2(layer.mlp.act(layer.mlp.fc1(hidden)))
        return decoder.lm_head(F.layer_norm(x, (dim,), decoder.norm.weight, decoder.norm.bias, eps))

    token = torch.full((batch,), model.config.decoder_start_token_id, dtype=torch.long)
    start = time.perf_counter()
    for t in range(tokens):
        token = step(token, t).argmax(-1)
    return time.perf_counter() - start


def run_case(preset: str, batch: int, mode: str, tokens: int, width: int, threads: int, repeats: int) -> dict:
    import numpy as np
    import torch

    if threads:
        torch.set_num_threads(threads)

    from acai_hf.model.image_processing_acai import AcaiImageProcessor
    from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration, count_parameters

    torch.manual_seed(0)
    model = AcaiOMRForConditionalGeneration.from_preset(preset).eval()
    parameters = count_parameters(model)  # before int8 packs the decoder's weights away from .parameters()
    if mode == "int8":
        from acai_hf.model.quantization_acai import quantize_decoder

        quantize_decoder(model)
    height, budget = IMAGE_SETTINGS[preset]
    processor = AcaiImageProcessor(target_height=height, max_patches=budget)
    rng = np.random.default_rng(0)
    # a system photo at a typical aspect ratio (1:5); content does not matter for speed
    pictures = [rng.integers(0, 256, (width // 5, width), dtype=np.uint8) for _ in range(batch)]
    inputs = processor(pictures)
    cache = mode != "nocache"

    def timed(run):
        start = time.perf_counter()
        run()
        return time.perf_counter() - start

    def generate():
        out = model.generate(**inputs, max_length=tokens + 1, eos_token_id=None, use_cache=cache)
        assert out.shape == (batch, tokens + 1)

    with torch.inference_mode():
        model.generate(**inputs, max_length=4, eos_token_id=None, use_cache=cache)  # warm-up
        # the fastest of `repeats` runs: other processes on a shared machine only ever add time
        encoder_seconds = min(timed(lambda: model.encode(inputs["pixel_values"], inputs["pixel_mask"]))
                              for _ in range(repeats))  # the part that is not decoding
        if mode == "bare":
            states, _ = model.encode(inputs["pixel_values"], inputs["pixel_mask"])
            bare_decoding_seconds(model, states, 4)  # warm-up
            seconds = encoder_seconds + min(bare_decoding_seconds(model, states, tokens) for _ in range(repeats))
        else:
            seconds = min(timed(generate) for _ in range(repeats))
    return {
        "preset": preset,
        "batch": batch,
        "mode": mode,
        "params_m": round(parameters / 1e6, 1),
        "grid": [inputs["pixel_values"].shape[2] // 16, inputs["pixel_values"].shape[3] // 16],
        "seconds_per_batch": round(seconds, 3),
        "seconds_per_system": round(seconds / batch, 3),
        "ms_per_step": round(seconds / tokens * 1000, 2),
        "encoder_seconds_per_system": round(encoder_seconds / batch, 3),
        "decoder_ms_per_step": round((seconds - encoder_seconds) / tokens * 1000, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "threads": torch.get_num_threads(),
    }


def matmul_gflops(threads: int, size: int = 1024, repeats: int = 10) -> float:
    import torch

    if threads:
        torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, help="preset:batch[:cache|nocache|bare|int8]")
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--width", type=int, default=1000, help="source image width in pixels")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per case; the fastest counts")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    args = parser.parse_args()
    if args.one:
        preset, batch, mode = (args.one.split(":") + ["cache"])[:3]
        if mode not in ("cache", "nocache", "bare", "int8"):
            parser.error(f"unknown mode {mode!r} in {args.one!r}")
        print(json.dumps(run_case(preset, int(batch), mode, args.tokens, args.width, args.threads, args.repeats)))
        return

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.tokens} tokens per system; "
          f"fp32 matmul {matmul_gflops(args.threads):.0f} GFLOP/s (other processes on the CPU lower it)")
    results = []
    for case in args.cases:
        done = subprocess.run(
            [sys.executable, __file__, "--one", case, "--tokens", str(args.tokens), "--width", str(args.width),
             "--threads", str(args.threads), "--repeats", str(args.repeats)],
            capture_output=True, text=True, check=True,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{r['preset']:>5} batch {r['batch']} {r['mode']:>7}: "
              f"{r['seconds_per_system']:.3f} s/system, {r['ms_per_step']:.1f} ms/step "
              f"(encoder {r['encoder_seconds_per_system']:.3f} s/system, "
              f"decoding {r['decoder_ms_per_step']:.1f} ms/step), "
              f"peak {r['peak_rss_mib']} MiB, {r['params_m']}M params, grid {r['grid']}, {r['threads']} threads")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    by_key = {(r["preset"], r["batch"], r["mode"]): r for r in results}
    for (preset, batch, mode), r in by_key.items():
        slow = by_key.get((preset, batch, "nocache"))
        if mode == "cache" and slow:
            speedup = slow["seconds_per_batch"] / r["seconds_per_batch"]
            print(f"KV cache speed-up, {preset} batch {batch}: {speedup:.1f}x")


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    main()
