package embedded

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/inference/tokenizer"
)

// Chat template families. A GGUF's tokenizer.chat_template is a Jinja program; like llama.cpp
// (llm_chat_detect_template) the backend recognizes the family by substrings and renders it with Go
// code. Where llama.cpp's built-in renderer and the model's own Jinja template disagree, the backend
// renders what the Jinja template renders (what the model was trained on, and what llama-server
// produces with its default --jinja); see docs/PROTOCOL.md "Embedded backend: chat template".
const (
	FamilyPlain           = "plain" // no template in the GGUF: ChatTemplate, for base models
	FamilyChatML          = "chatml"
	FamilyLlama3          = "llama3"
	FamilyLlama2          = "llama2"
	FamilyMistralV1       = "mistral-v1"
	FamilyMistralV3       = "mistral-v3"
	FamilyMistralV3Tekken = "mistral-v3-tekken"
	FamilyMistralV7       = "mistral-v7"
	FamilyGemma           = "gemma"
	FamilyPhi3            = "phi3"
	FamilyZephyr          = "zephyr"
	FamilyDeepSeek3       = "deepseek3"
)

// Families lists the family names Config.ChatTemplate accepts.
var Families = []string{
	FamilyPlain, FamilyChatML, FamilyLlama3, FamilyLlama2, FamilyMistralV1, FamilyMistralV3,
	FamilyMistralV3Tekken, FamilyMistralV7, FamilyGemma, FamilyPhi3, FamilyZephyr, FamilyDeepSeek3,
}

// ErrUnknownTemplate is returned for a chat template that matches no supported family.
var ErrUnknownTemplate = errors.New("chat template not recognized")

// Llama3Date is the "Today Date" the Llama 3.1+ templates put in the system header. Their Jinja uses
// the current date when the renderer offers strftime_now and this date otherwise; the backend pins it
// so a prompt renders the same on every provider and every day.
const Llama3Date = "26 Jul 2024"

// chatTemplate is a detected family plus the variant details read from the Jinja source.
type chatTemplate struct {
	family string
	// source is the Jinja template ("" for the plain template and for a forced family).
	source string
	// bos and eos are the vocabulary's BOS/EOS texts, the template's bos_token/eos_token.
	bos, eos string
	// fallback marks chatml chosen for a template no family matched.
	fallback bool

	// defaultSystem (chatml) is the system turn the template adds when the first message is not a
	// system message (Qwen2, Qwen2.5, SmolLM); "" for none.
	defaultSystem string
	// dateHeader (llama3): the Llama 3.1+ system header with the knowledge cutoff and Llama3Date.
	dateHeader bool
	// firstUserPrefix (gemma): Gemma 3's folding, the first system message untrimmed + "\n\n" in front
	// of the first turn; otherwise llama.cpp's, the trimmed system text in front of the next user turn.
	firstUserPrefix bool
	// skipEmptySystem (phi3): Phi-3.5 renders no system turn for an empty system message.
	skipEmptySystem bool
	// llama2 variants (llama.cpp's llama2, -sys, -sys-bos, -sys-strip).
	sysBlock, bosEachTurn, strip bool
	// leadingBOS: the template starts the text with bos_token.
	leadingBOS bool
}

// Family is the detected family name.
func (t *chatTemplate) Family() string { return t.family }

// defaultSystemRE finds a ChatML default system turn written as one Jinja string literal.
// The newlines may be escapes or literal newlines (SmolLM2 writes them literally).
var defaultSystemRE = regexp.MustCompile(`'<\|im_start\|>system(?:\n|\\n)((?:[^'\\]|\\.)+?)<\|im_end\|>(?:\n|\\n)'|"<\|im_start\|>system(?:\n|\\n)((?:[^"\\]|\\.)+?)<\|im_end\|>(?:\n|\\n)"`)

// zephyrUserRE matches Zephyr's user turn, '<|user|>\n' + message['content'] + eos_token.
var zephyrUserRE = regexp.MustCompile(`<\|user\|>(?:\n|\\n)'\s*\+\s*message\[['"]content['"]\]\s*\+\s*eos_token`)

// jinjaUnescape decodes the escapes of a Jinja (Python) string literal.
func jinjaUnescape(s string) string {
	r := strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\r`, "\r", `\'`, "'", `\"`, `"`, `\\`, `\`)
	return r.Replace(s)
}

// detectChatTemplate maps a Jinja chat template to a family, in llama.cpp's order of checks. A
// template that is exactly a family name selects it (as llama.cpp's llm_chat_template_from_str).
func detectChatTemplate(src string) (*chatTemplate, error) {
	t := &chatTemplate{source: src}
	has := func(s string) bool { return strings.Contains(src, s) }
	switch {
	case src == "":
		t.family = FamilyPlain
	case slices.Contains(Families, src):
		t.family = src
		t.source = ""
	case has("<|im_start|>"):
		if has("<|im_sep|>") || has("<end_of_utterance>") {
			return nil, fmt.Errorf("%w: phi4 / SmolVLM templates are not supported", ErrUnknownTemplate)
		}
		t.family = FamilyChatML
		if m := defaultSystemRE.FindStringSubmatch(src); m != nil {
			t.defaultSystem = jinjaUnescape(m[1] + m[2])
		}
	case strings.HasPrefix(src, "mistral") || has("[INST]"):
		switch {
		case has("[SYSTEM_PROMPT]"):
			t.family = FamilyMistralV7
		case has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]"):
			switch {
			case has(" [INST]"):
				t.family = FamilyMistralV1
			case has(`"[INST]"`):
				t.family = FamilyMistralV3Tekken
			default:
				t.family = FamilyMistralV3
			}
		default:
			t.family = FamilyLlama2
			t.sysBlock = has("<<SYS>>")
			t.bosEachTurn = has("bos_token + '[INST]")
			t.strip = has("content.strip()")
		}
	case has("<|assistant|>") && has("<|end|>"):
		t.family = FamilyPhi3
		t.skipEmptySystem = has("'system' and message['content']")
	// llama.cpp sends templates with <|user|> and <|assistant|> to falcon3/glmedge, which misses
	// Zephyr's own template (user turns end with eos_token); the Zephyr check comes first here.
	case has("<|assistant|>") && zephyrUserRE.MatchString(src),
		has("<|user|>") && has("<|endoftext|>") && !has("<|assistant|>"):
		t.family = FamilyZephyr
	case has("<start_of_turn>"):
		t.family = FamilyGemma
		t.firstUserPrefix = has("first_user_prefix")
	case has("<|start_header_id|>") && has("<|end_header_id|>"):
		t.family = FamilyLlama3
		t.dateHeader = has("Cutting Knowledge Date")
	case has("<｜Assistant｜>") && has("<｜User｜>") && has("<｜end▁of▁sentence｜>"):
		t.family = FamilyDeepSeek3
	default:
		return nil, ErrUnknownTemplate
	}
	// The templates that use bos_token open the text with it, except Llama 2's, which opens every
	// user turn with it.
	t.leadingBOS = has("bos_token") && !t.bosEachTurn
	if t.source == "" && t.family != FamilyPlain {
		// A forced family renders its best-known template (the reference one).
		t.forcedDefaults()
	}
	return t, nil
}

// forcedDefaults sets the variant details of the family's reference template.
func (t *chatTemplate) forcedDefaults() {
	switch t.family {
	case FamilyLlama3:
		t.leadingBOS, t.dateHeader = true, true
	case FamilyMistralV1, FamilyMistralV3, FamilyMistralV3Tekken, FamilyMistralV7, FamilyDeepSeek3:
		t.leadingBOS = true
	case FamilyLlama2:
		t.sysBlock, t.bosEachTurn, t.strip = true, true, true
	case FamilyGemma:
		t.leadingBOS, t.firstUserPrefix = true, true
	case FamilyPhi3:
		t.skipEmptySystem = true
	}
}

// turn is a message with its role normalized (developer is system).
type turn struct{ role, content string }

func normalize(msgs []backend.Message) ([]turn, error) {
	if len(msgs) == 0 {
		return nil, backend.InvalidRequest("messages", "messages must not be empty")
	}
	out := make([]turn, len(msgs))
	for i, m := range msgs {
		switch m.Role {
		case "system", "developer":
			out[i] = turn{"system", m.Content}
		case "user", "assistant":
			out[i] = turn{m.Role, m.Content}
		default:
			return nil, backend.InvalidRequest(fmt.Sprintf("messages[%d].role", i),
				"unsupported role %q in messages[%d]: want system, developer, user or assistant", m.Role, i)
		}
	}
	return out, nil
}

// trim is Jinja's trim filter (Python's str.strip()).
func trim(s string) string { return strings.TrimSpace(s) }

// systemOnlyFirst rejects a system message after the first message, which the family's template
// cannot place (its Jinja raises).
func systemOnlyFirst(ts []turn, family string) error {
	for i, t := range ts {
		if i > 0 && t.role == "system" {
			return backend.InvalidRequest(fmt.Sprintf("messages[%d].role", i),
				"the model's %s chat template allows a system message only as the first message", family)
		}
	}
	return nil
}

// Render turns messages into the prompt text, with the assistant turn opener where the family has
// one. The text holds the family's control tokens as text (tokenize with parse_special).
func (t *chatTemplate) Render(msgs []backend.Message) (string, error) {
	if t.family == FamilyPlain {
		return RenderChat(msgs)
	}
	ts, err := normalize(msgs)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if t.leadingBOS {
		b.WriteString(t.bos)
	}
	switch t.family {
	case FamilyChatML:
		if ts[0].role != "system" && t.defaultSystem != "" {
			b.WriteString("<|im_start|>system\n" + t.defaultSystem + "<|im_end|>\n")
		}
		for _, m := range ts {
			b.WriteString("<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n")
		}
		b.WriteString("<|im_start|>assistant\n")
	case FamilyLlama3:
		header := func(role string) string { return "<|start_header_id|>" + role + "<|end_header_id|>\n\n" }
		if t.dateHeader {
			b.WriteString(header("system") + "Cutting Knowledge Date: December 2023\nToday Date: " + Llama3Date + "\n\n")
			if ts[0].role == "system" {
				b.WriteString(trim(ts[0].content))
				ts = ts[1:]
			}
			b.WriteString("<|eot_id|>")
		}
		for _, m := range ts {
			b.WriteString(header(m.role) + trim(m.content) + "<|eot_id|>")
		}
		b.WriteString(header("assistant"))
	case FamilyMistralV7:
		for _, m := range ts {
			switch m.role {
			case "system":
				b.WriteString("[SYSTEM_PROMPT] " + m.content + "[/SYSTEM_PROMPT]")
			case "user":
				b.WriteString("[INST] " + m.content + "[/INST]")
			default:
				b.WriteString(" " + m.content + t.eos)
			}
		}
	case FamilyMistralV1, FamilyMistralV3, FamilyMistralV3Tekken:
		if err := systemOnlyFirst(ts, t.family); err != nil {
			return "", err
		}
		system, hasSystem := "", ts[0].role == "system"
		if hasSystem {
			system, ts = ts[0].content, ts[1:]
		}
		for i, m := range ts {
			if m.role == "user" {
				// v1 puts the system prompt in the first user turn, v3 in the last one (and drops it
				// when the conversation does not end with a user turn), as their Jinja templates do.
				withSystem := hasSystem && (t.family == FamilyMistralV1 && i == 0 || t.family != FamilyMistralV1 && i == len(ts)-1)
				prefix := ""
				if withSystem {
					prefix = system + "\n\n"
				}
				switch t.family {
				case FamilyMistralV1:
					b.WriteString(" [INST] " + prefix + m.content + " [/INST]")
				case FamilyMistralV3:
					b.WriteString("[INST] " + prefix + m.content + "[/INST]")
				default:
					b.WriteString("[INST]" + prefix + m.content + "[/INST]")
				}
				continue
			}
			switch t.family {
			case FamilyMistralV1:
				b.WriteString(" " + m.content + t.eos)
			case FamilyMistralV3:
				b.WriteString(" " + trim(m.content) + t.eos)
			default:
				b.WriteString(m.content + t.eos)
			}
		}
	case FamilyLlama2:
		if err := t.renderLlama2(&b, ts); err != nil {
			return "", err
		}
	case FamilyGemma:
		t.renderGemma(&b, ts)
	case FamilyPhi3:
		for _, m := range ts {
			if m.role == "system" && m.content == "" && t.skipEmptySystem {
				continue
			}
			b.WriteString("<|" + m.role + "|>\n" + m.content + "<|end|>\n")
		}
		b.WriteString("<|assistant|>\n")
	case FamilyZephyr:
		end := "<|endoftext|>"
		if strings.Contains(t.source, "eos_token") || t.source == "" {
			end = t.eos
		}
		for _, m := range ts {
			b.WriteString("<|" + m.role + "|>\n" + m.content + end + "\n")
		}
		b.WriteString("<|assistant|>\n")
	case FamilyDeepSeek3:
		// All system messages, joined, go first (DeepSeek-V3's ns.system_prompt).
		first := true
		for _, m := range ts {
			if m.role == "system" {
				if !first {
					b.WriteString("\n\n")
				}
				b.WriteString(m.content)
				first = false
			}
		}
		for _, m := range ts {
			switch m.role {
			case "user":
				b.WriteString("<｜User｜>" + m.content)
			case "assistant":
				b.WriteString("<｜Assistant｜>" + m.content + "<｜end▁of▁sentence｜>")
			}
		}
		b.WriteString("<｜Assistant｜>")
	default:
		return "", fmt.Errorf("%w: family %q", ErrUnknownTemplate, t.family)
	}
	return b.String(), nil
}

// renderLlama2 writes the Llama 2 [INST] format. The variant with BOS inside the history is
// Llama-2-chat's Jinja template (BOS before every user turn, " reply " around answers, the system
// block only in the first turn); the others follow llama.cpp's built-in renderer.
func (t *chatTemplate) renderLlama2(b *strings.Builder, ts []turn) error {
	content := func(s string) string {
		if t.strip {
			return trim(s)
		}
		return s
	}
	if t.bosEachTurn {
		if err := systemOnlyFirst(ts, t.family); err != nil {
			return err
		}
		sys, hasSys := "", ts[0].role == "system"
		if hasSys {
			sys, ts = ts[0].content, ts[1:]
		}
		for i, m := range ts {
			c := m.content
			if i == 0 && hasSys {
				c = "<<SYS>>\n" + sys + "\n<</SYS>>\n\n" + c
			}
			if m.role == "user" {
				b.WriteString(t.bos + "[INST] " + content(c) + " [/INST]")
			} else {
				b.WriteString(" " + content(c) + " " + t.eos)
			}
		}
		return nil
	}
	b.WriteString("[INST] ")
	inside := true
	for _, m := range ts {
		if !inside {
			b.WriteString("[INST] ")
			inside = true
		}
		c := content(m.content)
		switch m.role {
		case "system":
			if t.sysBlock {
				b.WriteString("<<SYS>>\n" + c + "\n<</SYS>>\n\n")
			} else {
				b.WriteString(c + "\n")
			}
		case "user":
			b.WriteString(c + " [/INST]")
		default:
			b.WriteString(c + t.eos)
			inside = false
		}
	}
	return nil
}

// renderGemma writes Gemma's turns: "model" for the assistant, system text folded into a user turn.
func (t *chatTemplate) renderGemma(b *strings.Builder, ts []turn) {
	prefix := ""
	if t.firstUserPrefix && ts[0].role == "system" {
		// Gemma 3: the first system message, untrimmed, + "\n\n" opens the first turn.
		prefix, ts = ts[0].content+"\n\n", ts[1:]
	}
	pending := ""
	for _, m := range ts {
		if m.role == "system" {
			pending += trim(m.content)
			continue
		}
		role := m.role
		if role == "assistant" {
			role = "model"
		}
		b.WriteString("<start_of_turn>" + role + "\n" + prefix)
		prefix = ""
		if pending != "" && role == "user" {
			b.WriteString(pending + "\n\n")
			pending = ""
		}
		b.WriteString(trim(m.content) + "<end_of_turn>\n")
	}
	b.WriteString("<start_of_turn>model\n")
}

// newChatTemplate picks the template for a model: forced names a family ("" detects it from src, the
// GGUF's tokenizer.chat_template). An unrecognized template falls back to chatml when the vocabulary
// has ChatML's turn tokens (as llama.cpp does), and is refused otherwise: text in a format the model
// has no tokens for would give answers that never end properly.
func newChatTemplate(src, forced string, tok *tokenizer.Tokenizer) (*chatTemplate, error) {
	var t *chatTemplate
	var err error
	if forced != "" {
		if !slices.Contains(Families, forced) {
			return nil, fmt.Errorf("%w: chat template family %q is not one of %s", ErrUnknownTemplate, forced, strings.Join(Families, ", "))
		}
		t, err = detectChatTemplate(forced)
	} else {
		t, err = detectChatTemplate(src)
	}
	if errors.Is(err, ErrUnknownTemplate) && forced == "" {
		if !hasToken(tok, "<|im_start|>") || !hasToken(tok, "<|im_end|>") {
			return nil, fmt.Errorf("%w (and the vocabulary has no <|im_start|>/<|im_end|> for the chatml fallback); "+
				"set the chat template family explicitly (one of %s): %w", ErrUnknownTemplate, strings.Join(Families, ", "), err)
		}
		t, err = &chatTemplate{family: FamilyChatML, source: src, fallback: true}, nil
	}
	if err != nil {
		return nil, err
	}
	if bos := tok.BOS(); bos >= 0 {
		t.bos = tok.TokenText(bos)
	}
	if eos := tok.EOS(); eos >= 0 {
		t.eos = tok.TokenText(eos)
	}
	return t, nil
}

// hasToken reports whether text is one token of the vocabulary when special tokens are parsed.
func hasToken(tok *tokenizer.Tokenizer, text string) bool {
	ids := tok.EncodeSpecial(text, false, true)
	return len(ids) == 1 && tok.TokenText(ids[0]) == text
}

// tokenize is what llama.cpp's server does with a rendered chat: the template's leading BOS text is
// dropped when the tokenizer adds BOS itself, then the text is tokenized with special tokens added
// and parsed, so "<|start_header_id|>" and the like become their control tokens.
func (t *chatTemplate) tokenize(tok *tokenizer.Tokenizer, text string) []int32 {
	if tok.AddBOS() && t.bos != "" {
		text = strings.TrimPrefix(text, t.bos)
	}
	return tok.EncodeSpecial(text, true, true)
}
