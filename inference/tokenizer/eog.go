package tokenizer

import "slices"

// eogTexts are the token texts llama.cpp (llama_vocab::load) treats as end of generation whatever the
// GGUF says, making them control tokens when they are typed otherwise: chat models end a turn with them
// ("<|eot_id|>" for Llama 3, "<|im_end|>" for Qwen) rather than with EOS.
var eogTexts = []string{
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
	"<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
	"<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
	"<｜end▁of▁sentence｜>", "[e~[",
}

// eogKeys are the GGUF keys of further end-of-generation ids (llama.cpp adds EOS, EOT, EOM and the FIM
// pad/repo/separator tokens).
var eogKeys = []string{
	"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id", "tokenizer.ggml.fim_pad_token_id",
	"tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id",
}

// markEOG fills t.eog and promotes eogTexts tokens to Control. It runs before the special-token list is
// built, as in llama.cpp, so a promoted token is matched in text only with parse_special.
func (t *Tokenizer) markEOG(extra []int32) {
	add := func(id int32) {
		if id >= 0 && int(id) < len(t.tokens) && !slices.Contains(t.eog, id) {
			t.eog = append(t.eog, id)
		}
	}
	for _, id := range extra {
		add(id)
	}
	for _, s := range eogTexts {
		if id, ok := t.toID[s]; ok {
			add(id)
			t.types[id] = Control
		}
	}
	add(t.eos)
	slices.Sort(t.eog)
}

// IsEOG reports whether a generated token ends generation (llama_vocab_is_eog): EOS, EOT, EOM, and the
// turn-ending tokens llama.cpp recognizes by their text.
func (t *Tokenizer) IsEOG(id int32) bool {
	_, found := slices.BinarySearch(t.eog, id)
	return found
}

// EOG lists the end-of-generation tokens, sorted.
func (t *Tokenizer) EOG() []int32 { return slices.Clone(t.eog) }
