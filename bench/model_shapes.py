"""Which shape for the `small` preset? Training and decoding speed of candidate shapes on this CPU.

For each candidate: parameters, one training step (forward + backward, fp32, batch --batch of
--height x 5*height images with --tokens-token labels) in seconds per image, and one cached decoding
step at batch 4 in ms. Also prints the bf16 vs fp32 matmul rate, which decides the training dtype.

    python bench/model_shapes.py
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration, count_parameters  # noqa: E402

CONV = {"stem": "conv", "stem_channels": [32, 64, 128, 256]}
CANDIDATES = {
    "linear stem, enc 6x256, dec 4x256": ({"stem": "linear"}, {"num_hidden_layers": 4}),
    "conv stem, enc 6x256, dec 4x256": (CONV, {"num_hidden_layers": 4}),
    "conv stem, enc 6x256, dec 6x256": (CONV, {"num_hidden_layers": 6}),
    "conv stem, enc 8x256, dec 4x256": ({**CONV, "num_hidden_layers": 8}, {"num_hidden_layers": 4}),
}


def matmul_rate(dtype, size=1024, repeats=5):
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def best_of(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(encoder, decoder, args):
    torch.manual_seed(0)
    model = AcaiOMRForConditionalGeneration.from_preset("small", encoder=encoder, decoder=decoder)
    pixels = torch.rand(args.batch, 1, args.height, args.height * 5)
    labels = torch.randint(4, 228, (args.batch, args.tokens))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step():
        loss = model(pixel_values=pixels, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    model.train()
    train_step()
    train = best_of(train_step, args.repeats) / args.batch

    model.eval()
    inputs = {"pixel_values": pixels[:4].repeat(4 // min(4, args.batch), 1, 1, 1)[:4]}
    with torch.inference_mode():
        model.generate(**inputs, max_length=4, min_length=4)
        steps = 100
        decode = best_of(lambda: model.generate(**inputs, max_length=steps + 1, min_length=steps + 1), 2)
    return count_parameters(model) / 1e6, train, decode / steps * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--height", type=int, default=160)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"load {os.getloadavg()[0]:.1f}, {torch.get_num_threads()} threads; matmul fp32 "
          f"{matmul_rate(torch.float32):.0f} GFLOP/s, bf16 {matmul_rate(torch.bfloat16, repeats=1):.1f} GFLOP/s")
    print(f"images {args.height}x{args.height * 5}, labels {args.tokens} tokens, training batch {args.batch}")
    for name, (encoder, decoder) in CANDIDATES.items():
        params, train, step = measure(encoder, decoder, args)
        print(f"{name}: {params:.1f}M params, train {train:.2f} s/image, decode {step:.1f} ms/step at batch 4")


if __name__ == "__main__":
    main()
