#!/usr/bin/env python3
"""Writes a Hugging Face GPT-2 model directory of random weights (config.json + model.safetensors, F32), written from
the safetensors specification with the standard library only, for load benchmarks (`nexttoken bench load`).

    python3 bench/reference/make_gpt2_dir.py gpt2-xl /tmp/gpt2-xl

Sizes follow Hugging Face's configs: gpt2 (12 x 768), gpt2-medium (24 x 1024), gpt2-large (36 x 1280),
gpt2-xl (48 x 1600, 25 heads). Like the hub's files, it holds the attn.bias mask buffers and no lm_head (tied).
The weights are one 4 MiB block of N(0, 0.02) values repeated, which is all a load benchmark needs.
"""
import array, json, os, random, struct, sys

SIZES = {"gpt2": (12, 768, 12), "gpt2-medium": (24, 1024, 16), "gpt2-large": (36, 1280, 20), "gpt2-xl": (48, 1600, 25)}

def main():
    name, out = sys.argv[1], sys.argv[2]
    L, C, H = SIZES[name]
    V, T = 50257, 1024
    tensors = [("wte.weight", [V, C]), ("wpe.weight", [T, C])]
    for l in range(L):
        p = f"h.{l}."
        tensors += [(p + "ln_1.weight", [C]), (p + "ln_1.bias", [C]), (p + "attn.bias", [1, 1, T, T]),
                    (p + "attn.c_attn.weight", [C, 3 * C]), (p + "attn.c_attn.bias", [3 * C]),
                    (p + "attn.c_proj.weight", [C, C]), (p + "attn.c_proj.bias", [C]),
                    (p + "ln_2.weight", [C]), (p + "ln_2.bias", [C]),
                    (p + "mlp.c_fc.weight", [C, 4 * C]), (p + "mlp.c_fc.bias", [4 * C]),
                    (p + "mlp.c_proj.weight", [4 * C, C]), (p + "mlp.c_proj.bias", [C])]
    tensors += [("ln_f.weight", [C]), ("ln_f.bias", [C])]
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for n, shape in tensors:
        count = 1
        for d in shape: count *= d
        header[n] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + 4 * count]}
        offset += 4 * count
    hbytes = json.dumps(header, separators=(",", ":")).encode()
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    rng = random.Random(0)
    block = array.array("f", (rng.gauss(0.0, 0.02) for _ in range(1 << 20))).tobytes()
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        left = offset
        while left > 0:
            chunk = block[: min(left, len(block))]
            f.write(chunk)
            left -= len(chunk)
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
              "n_layer": L, "n_head": H, "n_embd": C, "n_positions": T, "n_ctx": T, "vocab_size": V,
              "layer_norm_epsilon": 1e-5, "n_inner": None, "tie_word_embeddings": True}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(f"{out}: {len(tensors)} tensors, {offset / 1e9:.2f} GB of F32 data")

if __name__ == "__main__":
    main()
