#!/bin/sh
# Builds the training corpus and the tokenizer of the default demo model.
# Needs Debian packages: bible-kjv sentencepiece. Output goes to $OUT (default ./build).
set -eu
OUT=${OUT:-build}
mkdir -p "$OUT"
# One verse per line, verse numbers and chapter headings removed (the KJV text is public domain).
bible -l0 "gen1:1-rev22:21" | grep -E '^ *[0-9]+ ' | sed -E 's/^ *[0-9]+ //' > "$OUT/corpus.txt"
# BPE with byte fallback; identity normalization and kept whitespace so llama.cpp's SPM tokenizer
# (which never normalizes) encodes exactly like sentencepiece. <unk>=0 <s>=1 </s>=2 as llama.cpp expects.
spm_train --input="$OUT/corpus.txt" --model_prefix="$OUT/tokenizer" \
  --model_type=bpe --vocab_size=1536 --byte_fallback=true --character_coverage=1.0 \
  --normalization_rule_name=identity --remove_extra_whitespaces=false --add_dummy_prefix=true \
  --split_digits=true --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 \
  --input_sentence_size=0 --random_seed=1 --num_threads=1 --minloglevel=1
spm_export_vocab --model="$OUT/tokenizer.model" --output="$OUT/tokenizer.vocab"
