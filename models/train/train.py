"""Trains Cocoon's default demo model: a ~1M-parameter llama-architecture model on the KJV Bible.

Run prepare.sh first (corpus + tokenizer), then:
    /usr/bin/python3 train.py --build build --out ../cocoon-kjv-demo-1m.gguf
Everything is seeded; the architecture is exactly llama.cpp's LLM_ARCH_LLAMA with rope type NORM
(adjacent pairs rotate), so the Q/K weights are written without the HF permutation.
"""

import argparse
import math
import os
import random
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_writer as gw  # noqa: E402
from spm_bpe import Encoder, load_vocab, token_type, SPACE  # noqa: E402

NAME = "cocoon-kjv-demo-1m"
CFG = dict(dim=128, layers=4, heads=4, kv_heads=2, ffn=352, ctx=256, rope_base=10000.0, eps=1e-5)
BOS, EOS, UNK = 1, 2, 0


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_tables(ctx, head_dim, base):
    # theta_i = pos * base^(-2i/head_dim) for pair i = (x[2i], x[2i+1]).
    inv = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    ang = torch.arange(ctx, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    # x: (B, H, T, hd); rotate adjacent pairs (llama.cpp "NORM" rope).
    x0, x1 = x[..., 0::2], x[..., 1::2]
    r0 = x0 * cos - x1 * sin
    r1 = x0 * sin + x1 * cos
    return torch.stack((r0, r1), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h, kv = c["dim"], c["heads"], c["kv_heads"]
        hd = d // h
        self.h, self.kv, self.hd, self.eps = h, kv, hd, c["eps"]
        self.attn_norm = nn.Parameter(torch.ones(d))
        self.wq = nn.Linear(d, h * hd, bias=False)
        self.wk = nn.Linear(d, kv * hd, bias=False)
        self.wv = nn.Linear(d, kv * hd, bias=False)
        self.wo = nn.Linear(h * hd, d, bias=False)
        self.ffn_norm = nn.Parameter(torch.ones(d))
        self.w_gate = nn.Linear(d, c["ffn"], bias=False)
        self.w_up = nn.Linear(d, c["ffn"], bias=False)
        self.w_down = nn.Linear(c["ffn"], d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        a = rms_norm(x, self.attn_norm, self.eps)
        q = self.wq(a).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.wk(a).view(B, T, self.kv, self.hd).transpose(1, 2)
        v = self.wv(a).view(B, T, self.kv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos[:T], sin[:T]), apply_rope(k, cos[:T], sin[:T])
        rep = self.h // self.kv  # query head i uses kv head i // rep, as llama.cpp does
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.hd))
        att = att.masked_fill(mask[:T, :T], float("-inf"))
        o = att.softmax(-1) @ v
        x = x + self.wo(o.transpose(1, 2).reshape(B, T, -1))
        f = rms_norm(x, self.ffn_norm, self.eps)
        return x + self.w_down(F.silu(self.w_gate(f)) * self.w_up(f))


class Model(nn.Module):
    def __init__(self, c, vocab):
        super().__init__()
        self.c = c
        self.tok = nn.Embedding(vocab, c["dim"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["layers"]))
        self.norm = nn.Parameter(torch.ones(c["dim"]))
        self.out = nn.Linear(c["dim"], vocab, bias=False)
        cos, sin = rope_tables(c["ctx"], c["dim"] // c["heads"], c["rope_base"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        mask = torch.triu(torch.ones(c["ctx"], c["ctx"], dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02
                if name.endswith("wo.weight") or name.endswith("w_down.weight"):
                    std = 0.02 / math.sqrt(2 * c["layers"])
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx):
        x = self.tok(idx)
        for b in self.blocks:
            x = b(x, self.cos, self.sin, self.mask)
        return self.out(rms_norm(x, self.norm, self.c["eps"]))


def build_stream(enc, verses):
    """Per verse: ids as the first text of a prompt (dummy prefix) and as text after a newline."""
    first = [enc.encode(v, True) for v in verses]
    after = [enc.encode(v, False) for v in verses]
    return first, after


def sample(first, after, nl, lo, hi, ctx, rng):
    """BOS + verse i (as a prompt start) + "\n" + verse i+1 + ... cut to ctx+1 tokens."""
    i = rng.randrange(lo, hi)
    seq = [BOS] + first[i]
    j = i + 1
    while len(seq) < ctx + 1:
        if j >= hi:
            j = lo
        seq += [nl] + after[j]
        j += 1
    return seq[: ctx + 1]


def check_encoder(enc, corpus, spm_model):
    """The Python encoder must equal spm_encode on every corpus line, else the stream is wrong."""
    out = subprocess.run(["spm_encode", "--model=" + spm_model, "--output_format=id", "--input=" + corpus],
                         check=True, capture_output=True, text=True).stdout.splitlines()
    lines = open(corpus, encoding="utf-8").read().split("\n")[: len(out)]
    bad = 0
    for line, ref in zip(lines, out):
        want = [int(t) for t in ref.split()]
        if enc.encode(line, True) != want:
            bad += 1
    if bad:
        raise SystemExit(f"encoder differs from spm_encode on {bad} lines")
    return len(out)


def write_gguf(model, pieces, scores, path):
    c = model.c
    w = gw.Writer()
    w.add("general.architecture", gw.T_STRING, "llama")
    w.add("general.name", gw.T_STRING, NAME)
    w.add("general.description", gw.T_STRING,
          "Tiny demo base model trained on the King James Bible for Cocoon-Go tests; not for real use.")
    w.add("general.license", gw.T_STRING, "CC0-1.0")
    w.add("general.file_type", gw.T_UINT32, 0)  # LLAMA_FTYPE_ALL_F32
    w.add("general.alignment", gw.T_UINT32, gw.ALIGNMENT)
    w.add("llama.context_length", gw.T_UINT32, c["ctx"])
    w.add("llama.embedding_length", gw.T_UINT32, c["dim"])
    w.add("llama.block_count", gw.T_UINT32, c["layers"])
    w.add("llama.feed_forward_length", gw.T_UINT32, c["ffn"])
    w.add("llama.attention.head_count", gw.T_UINT32, c["heads"])
    w.add("llama.attention.head_count_kv", gw.T_UINT32, c["kv_heads"])
    w.add("llama.rope.dimension_count", gw.T_UINT32, c["dim"] // c["heads"])
    w.add("llama.rope.freq_base", gw.T_FLOAT32, c["rope_base"])
    w.add("llama.attention.layer_norm_rms_epsilon", gw.T_FLOAT32, c["eps"])
    w.add("llama.vocab_size", gw.T_UINT32, len(pieces))
    w.add("tokenizer.ggml.model", gw.T_STRING, "llama")
    w.add_array("tokenizer.ggml.tokens", gw.T_STRING, pieces)
    w.add_array("tokenizer.ggml.scores", gw.T_FLOAT32, scores)
    w.add_array("tokenizer.ggml.token_type", gw.T_INT32, [token_type(p, i) for i, p in enumerate(pieces)])
    w.add("tokenizer.ggml.bos_token_id", gw.T_UINT32, BOS)
    w.add("tokenizer.ggml.eos_token_id", gw.T_UINT32, EOS)
    w.add("tokenizer.ggml.unknown_token_id", gw.T_UINT32, UNK)
    w.add("tokenizer.ggml.add_bos_token", gw.T_BOOL, True)
    w.add("tokenizer.ggml.add_eos_token", gw.T_BOOL, False)
    w.add("tokenizer.ggml.add_space_prefix", gw.T_BOOL, True)

    def t(x):
        return x.detach().to(torch.float32).numpy()

    # nn.Linear weights are (out, in) row-major = ggml ne[0]=in, ne[1]=out: written as they are.
    w.add_tensor("token_embd.weight", t(model.tok.weight))
    for i, b in enumerate(model.blocks):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", t(b.attn_norm))
        w.add_tensor(p + "attn_q.weight", t(b.wq.weight))
        w.add_tensor(p + "attn_k.weight", t(b.wk.weight))
        w.add_tensor(p + "attn_v.weight", t(b.wv.weight))
        w.add_tensor(p + "attn_output.weight", t(b.wo.weight))
        w.add_tensor(p + "ffn_norm.weight", t(b.ffn_norm))
        w.add_tensor(p + "ffn_gate.weight", t(b.w_gate.weight))
        w.add_tensor(p + "ffn_up.weight", t(b.w_up.weight))
        w.add_tensor(p + "ffn_down.weight", t(b.w_down.weight))
    w.add_tensor("output_norm.weight", t(model.norm))
    w.add_tensor("output.weight", t(model.out.weight))
    w.write(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build", help="prepare.sh output folder")
    ap.add_argument("--out", required=True, help="GGUF file to write")
    ap.add_argument("--steps", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--from-checkpoint", action="store_true", help="only rewrite the GGUF from build/model.pt")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)

    pieces, scores = load_vocab(os.path.join(args.build, "tokenizer.vocab"))
    for p in pieces:
        if SPACE in p[1:]:
            raise SystemExit(f"piece {p!r} has an inner space; the word-split encoder would be wrong")
    model = Model(CFG, len(pieces))
    ckpt = os.path.join(args.build, "model.pt")
    if args.from_checkpoint:
        model.load_state_dict(torch.load(ckpt))
        write_gguf(model, pieces, scores, args.out)
        print("wrote", args.out)
        return

    enc = Encoder(pieces, scores)
    corpus = os.path.join(args.build, "corpus.txt")
    n = check_encoder(enc, corpus, os.path.join(args.build, "tokenizer.model"))
    print(f"encoder matches spm_encode on all {n} corpus lines", flush=True)
    verses = open(corpus, encoding="utf-8").read().rstrip("\n").split("\n")
    first, after = build_stream(enc, verses)
    nl = enc.byte_id[10]
    total = sum(len(a) + 1 for a in after)
    split = int(len(verses) * 0.98)  # the last 2% (end of the New Testament) is held out
    print(f"verses={len(verses)} tokens={total} chars/token={sum(map(len, verses)) / total:.2f}", flush=True)

    nparams = sum(p.numel() for p in model.parameters())
    print(f"params={nparams} config={CFG} vocab={len(pieces)}", flush=True)
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    warm = max(1, args.steps // 20)
    rng = random.Random(args.seed)
    vrng = random.Random(args.seed + 1)
    val = torch.tensor([sample(first, after, nl, split, len(verses), CFG["ctx"], vrng) for _ in range(32)])

    def evaluate():
        model.eval()
        with torch.no_grad():
            out = model(val[:, :-1])
            loss = F.cross_entropy(out.reshape(-1, out.size(-1)), val[:, 1:].reshape(-1)).item()
        model.train()
        return loss

    t0 = time.time()
    ema = None
    for step in range(1, args.steps + 1):
        lr = args.lr * (step / warm if step <= warm else
                        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / (args.steps - warm))))
        for g in opt.param_groups:
            g["lr"] = lr
        batch = torch.tensor([sample(first, after, nl, 0, split, CFG["ctx"], rng) for _ in range(args.batch)])
        out = model(batch[:, :-1])
        loss = F.cross_entropy(out.reshape(-1, out.size(-1)), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 50 == 0 or step == args.steps:
            msg = f"step {step}/{args.steps} loss {loss.item():.4f} ema {ema:.4f} lr {lr:.2e} {time.time() - t0:.0f}s"
            if step % 150 == 0 or step == args.steps:
                msg += f" val {evaluate():.4f}"
            print(msg, flush=True)
    print(f"trained {args.steps} steps x {args.batch} x {CFG['ctx']} tokens in {time.time() - t0:.0f}s; "
          f"final val loss {evaluate():.4f}", flush=True)
    torch.save(model.state_dict(), ckpt)
    write_gguf(model, pieces, scores, args.out)
    print("wrote", args.out, flush=True)


if __name__ == "__main__":
    main()
