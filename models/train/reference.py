"""Writes models/testdata/reference.json: what a correct llama.cpp-compatible engine must produce.

Independent of train.py: it reads the GGUF file back with its own small parser, runs the llama forward
pass in float64 numpy, and greedy-decodes fixed prompts (BOS first, as llama.cpp does by default).
Tokenization comes from sentencepiece itself (spm_encode and the python module), never from train.py.

    /usr/bin/python3 reference.py --gguf ../cocoon-kjv-demo-1m.gguf --spm ../tokenizer.model \
        --out ../testdata/reference.json
"""

import argparse
import hashlib
import json
import struct
import subprocess
import tempfile

import numpy as np
import sentencepiece as spm

# --- GGUF reader -------------------------------------------------------------------------------------


class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def take(self, fmt):
        v = struct.unpack_from("<" + fmt, self.d, self.p)
        self.p += struct.calcsize("<" + fmt)
        return v[0]

    def string(self):
        n = self.take("Q")
        s = self.d[self.p:self.p + n].decode("utf-8")
        self.p += n
        return s

    def value(self, t):
        fmts = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("I"), self.take("Q")
            return [self.value(et) for _ in range(n)]
        return self.take(fmts[t])


def read_gguf(path):
    data = open(path, "rb").read()
    r = Reader(data)
    if data[:4] != b"GGUF":
        raise SystemExit("not a GGUF file")
    r.p = 4
    version, n_tensors, n_kv = r.take("I"), r.take("Q"), r.take("Q")
    if version != 3:
        raise SystemExit(f"unsupported GGUF version {version}")
    meta = {}
    for _ in range(n_kv):
        k = r.string()
        meta[k] = r.value(r.take("I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        nd = r.take("I")
        ne = [r.take("Q") for _ in range(nd)]
        infos.append((name, ne, r.take("I"), r.take("Q")))
    align = meta.get("general.alignment", 32)
    base = r.p + (-r.p) % align
    tensors = {}
    for name, ne, typ, off in infos:
        dt = {0: np.float32, 1: np.float16}[typ]
        count = int(np.prod(ne))
        arr = np.frombuffer(data, dtype=dt, count=count, offset=base + off)
        tensors[name] = arr.reshape(list(reversed(ne))).astype(np.float64)
    return meta, tensors, data


# --- forward pass (float64) ----------------------------------------------------------------------------


class Llama:
    def __init__(self, meta, t):
        a = meta["general.architecture"]
        self.n_layer = meta[a + ".block_count"]
        self.n_head = meta[a + ".attention.head_count"]
        self.n_kv = meta[a + ".attention.head_count_kv"]
        self.dim = meta[a + ".embedding_length"]
        self.hd = self.dim // self.n_head
        self.eps = meta[a + ".attention.layer_norm_rms_epsilon"]
        self.base = meta[a + ".rope.freq_base"]
        self.ctx = meta[a + ".context_length"]
        self.t = t

    def norm(self, x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + self.eps) * w

    def rope(self, x, pos):
        # x: (T, H, hd); adjacent pairs rotate by pos * base^(-2i/hd) (llama.cpp rope type NORM).
        i = np.arange(0, self.hd, 2, dtype=np.float64)
        ang = pos[:, None] * self.base ** (-i / self.hd)
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
        return out

    def logits(self, ids):
        """Logits for every position of ids (full recompute: simple and obviously right)."""
        t = self.t
        T = len(ids)
        x = t["token_embd.weight"][ids]
        pos = np.arange(T, dtype=np.float64)
        mask = np.triu(np.full((T, T), -np.inf), 1)
        rep = self.n_head // self.n_kv
        for l in range(self.n_layer):
            p = f"blk.{l}."
            a = self.norm(x, t[p + "attn_norm.weight"])
            q = (a @ t[p + "attn_q.weight"].T).reshape(T, self.n_head, self.hd)
            k = (a @ t[p + "attn_k.weight"].T).reshape(T, self.n_kv, self.hd)
            v = (a @ t[p + "attn_v.weight"].T).reshape(T, self.n_kv, self.hd)
            q, k = self.rope(q, pos), self.rope(k, pos)
            o = np.empty((T, self.n_head, self.hd))
            for h in range(self.n_head):
                kh, vh = k[:, h // rep], v[:, h // rep]
                s = q[:, h] @ kh.T / np.sqrt(self.hd) + mask
                s = np.exp(s - s.max(-1, keepdims=True))
                s /= s.sum(-1, keepdims=True)
                o[:, h] = s @ vh
            x = x + o.reshape(T, self.dim) @ t[p + "attn_output.weight"].T
            f = self.norm(x, t[p + "ffn_norm.weight"])
            g = f @ t[p + "ffn_gate.weight"].T
            u = f @ t[p + "ffn_up.weight"].T
            x = x + ((g / (1 + np.exp(-g))) * u) @ t[p + "ffn_down.weight"].T
        out_w = t.get("output.weight", t["token_embd.weight"])
        return self.norm(x, t["output_norm.weight"]) @ out_w.T


def piece_bytes(piece, ttype):
    if ttype == 6:
        return bytes([int(piece[3:5], 16)])
    if ttype in (2, 3):
        return b""
    return piece.replace("\u2581", " ").encode("utf-8")


# --- fixtures ------------------------------------------------------------------------------------------

TOKENIZER_CASES = [
    "In the beginning God created the heaven and the earth.",
    "Hello, world!",
    "",
    " ",
    "   leading spaces",
    "trailing spaces   ",
    "double  inner  spaces",
    "digits 0123456789 and 3.14159",
    "Ünïcødé ☃ — “quotes” 日本語 🙂",
    "tab\there",
    "line one\nline two\n",
    "User: Who made the heaven?\nAssistant:",
    "ASCII punctuation: !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
]

PROMPTS = [
    "In the beginning",
    "And God said",
    "The LORD is my shepherd",
    "Blessed are the",
    "And it came to pass",
    "For God so loved the world",
    "User: Who created the heaven and the earth?\nAssistant:",
    "System: You are a helpful assistant.\nUser: Tell me about the sea.\nAssistant:",
]


def spm_encode_lines(model_path, lines):
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        name = f.name
    out = subprocess.run(["spm_encode", "--model=" + model_path, "--output_format=id", "--input=" + name],
                         check=True, capture_output=True, text=True).stdout.split("\n")
    return [[int(x) for x in line.split()] for line in out[: len(lines)]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--spm", required=True, help="sentencepiece tokenizer.model")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokens", type=int, default=32, help="greedy tokens per prompt")
    args = ap.parse_args()

    meta, tensors, raw = read_gguf(args.gguf)
    sp = spm.SentencePieceProcessor(model_file=args.spm)
    pieces = meta["tokenizer.ggml.tokens"]
    types = meta["tokenizer.ggml.token_type"]
    if [sp.id_to_piece(i) for i in range(sp.get_piece_size())] != pieces:
        raise SystemExit("GGUF vocabulary differs from the sentencepiece model")

    tok_cases = []
    single = [c for c in TOKENIZER_CASES if "\n" not in c]
    cli = dict(zip(single, spm_encode_lines(args.spm, single)))
    for text in TOKENIZER_CASES:
        ids = sp.encode(text)
        if text in cli and cli[text] != ids:
            raise SystemExit(f"spm_encode and the sentencepiece module disagree on {text!r}")
        tok_cases.append({"text": text, "ids": ids, "pieces": [pieces[i] for i in ids]})

    model = Llama(meta, tensors)
    bos = meta["tokenizer.ggml.bos_token_id"]
    eos = meta["tokenizer.ggml.eos_token_id"]
    gens = []
    for prompt in PROMPTS:
        ids = [bos] + sp.encode(prompt)
        out, margins, text = [], [], b""
        for _ in range(args.tokens):
            lg = model.logits(ids + out)[-1]
            order = np.argsort(-lg, kind="stable")
            nxt = int(order[0])
            margins.append(round(float(lg[order[0]] - lg[order[1]]), 6))
            if nxt == eos:
                break
            out.append(nxt)
            text += piece_bytes(pieces[nxt], types[nxt])
        first = model.logits(ids)[-1]
        gens.append({
            "prompt": prompt,
            "prompt_ids": ids,
            "completion_ids": out,
            "completion_text": text.decode("utf-8", errors="replace"),
            # top1 - top2 logit gap per step: a float32 engine may only disagree where this is tiny.
            "top2_margins": margins,
            # First 8 logits after the prompt, to check the forward pass numerically (tolerance ~1e-3).
            "first_logits_head": [round(float(v), 6) for v in first[:8]],
        })

    res = {
        "model_file": args.gguf.rsplit("/", 1)[-1],
        "sha256": hashlib.sha256(raw).hexdigest(),
        "note": "greedy decoding, BOS prepended, float64 reference forward pass; ids exclude BOS in tokenizer cases",
        "bos_id": bos,
        "eos_id": eos,
        "tokenizer": tok_cases,
        "greedy": gens,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(res, f, ensure_ascii=False, indent=1)
        f.write("\n")
    for g in gens:
        print(f"{g['prompt']!r} -> {g['completion_text']!r} (min margin {min(g['top2_margins']):.3f})")


if __name__ == "__main__":
    main()
