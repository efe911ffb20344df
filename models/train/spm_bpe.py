"""SentencePiece-BPE encoding the way llama.cpp's SPM tokenizer does it.

Used only to build the training token stream: llama.cpp tokenizes a whole prompt at once (one dummy
prefix at the start, "\n" as the byte token <0x0A>, no prefix after it), while spm_encode works line by
line. train.py checks this encoder against spm_encode on every corpus line before it uses it.
"""

import heapq

SPACE = "\u2581"  # "▁", sentencepiece's visible space


def load_vocab(path):
    """Reads spm_export_vocab output: one "piece<TAB>score" per line, id = line number."""
    pieces, scores = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            piece, score = line.rstrip("\n").split("\t")
            pieces.append(piece)
            scores.append(float(score))
    return pieces, scores


def token_type(piece, idx):
    """llama.cpp token types: 1 normal, 2 unknown, 3 control, 6 byte."""
    if idx == 0:
        return 2
    if piece in ("<s>", "</s>"):
        return 3
    if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
        return 6
    return 1


class Encoder:
    def __init__(self, pieces, scores):
        self.pieces = pieces
        self.scores = scores
        self.index = {}
        for i, p in enumerate(pieces):
            if token_type(p, i) == 1:
                self.index[p] = i
        self.byte_id = {}
        for i, p in enumerate(pieces):
            if token_type(p, i) == 6:
                self.byte_id[int(p[3:5], 16)] = i
        self.cache = {}

    def _bpe(self, word):
        """Merges the highest-scoring adjacent pair first (leftmost on ties), as sentencepiece does."""
        syms = list(word)
        if len(syms) > 1:
            prev = list(range(-1, len(syms) - 1))
            nxt = list(range(1, len(syms) + 1))
            nxt[-1] = -1
            alive = [True] * len(syms)
            heap = []

            def push(left):
                right = nxt[left]
                if right < 0:
                    return
                cand = syms[left] + syms[right]
                if cand in self.index:
                    heapq.heappush(heap, (-self.scores[self.index[cand]], left, cand))

            for i in range(len(syms) - 1):
                push(i)
            while heap:
                _, left, cand = heapq.heappop(heap)
                right = nxt[left]
                # Stale entry: one side was merged since it was pushed.
                if not alive[left] or right < 0 or syms[left] + syms[right] != cand:
                    continue
                syms[left] = cand
                alive[right] = False
                nxt[left] = nxt[right]
                if nxt[right] >= 0:
                    prev[nxt[right]] = left
                if prev[left] >= 0:
                    push(prev[left])
                push(left)
            syms = [s for s, a in zip(syms, alive) if a]
        out = []
        for s in syms:
            if s in self.index:
                out.append(self.index[s])
            else:
                out.extend(self.byte_id[b] for b in s.encode("utf-8"))
        return out

    def encode(self, text, dummy_prefix=True):
        """Encodes text; merges never cross a "▁" because no piece has one inside (checked in train.py)."""
        s = text.replace(" ", SPACE)
        if dummy_prefix:
            s = SPACE + s
        ids = []
        start = 0
        for i in range(1, len(s) + 1):
            if i == len(s) or s[i] == SPACE:
                word = s[start:i]
                if word:
                    got = self.cache.get(word)
                    if got is None:
                        got = self._bpe(word)
                        self.cache[word] = got
                    ids.extend(got)
                start = i
        return ids
