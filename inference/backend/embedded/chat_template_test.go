package embedded

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cocoon-go/cocoon/inference/backend"
)

// chatReference is models/testdata/chat-template-reference.json, written by
// tools/llamacpp-ref/chat-reference.mjs: each public template rendered by @huggingface/jinja and by
// llama.cpp's built-in renderer (llama_chat_apply_template).
type chatReference struct {
	Jinja         string                         `json:"jinja"`
	LlamaCpp      string                         `json:"llamacpp"`
	Conversations map[string][]map[string]string `json:"conversations"`
	Families      []struct {
		Name     string `json:"name"`
		Family   string `json:"family"`
		Source   string `json:"source"`
		BOS      string `json:"bos_token"`
		EOS      string `json:"eos_token"`
		Template string `json:"template"`
		Cases    []struct {
			Conversation  string  `json:"conversation"`
			Jinja         *string `json:"jinja"`
			JinjaError    string  `json:"jinja_error"`
			LlamaCpp      *string `json:"llamacpp"`
			LlamaCppError string  `json:"llamacpp_error"`
		} `json:"cases"`
	} `json:"families"`
	PromptTokens *struct {
		ModelSHA256   string `json:"model_sha256"`
		BOS           string `json:"bos_token"`
		Conversations map[string]struct {
			Text string  `json:"text"`
			IDs  []int32 `json:"ids"`
		} `json:"conversations"`
	} `json:"llamacpp_prompt_tokens"`
}

func loadChatReference(t *testing.T) chatReference {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "models", "testdata", "chat-template-reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r chatReference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// knownJinjaQuirks are cases where @huggingface/jinja differs from Python's Jinja (what the templates
// were written for): there the backend must equal llama.cpp's built-in renderer plus the template's BOS.
var knownJinjaQuirks = map[string]string{
	// Llama-2-chat tests `system_message != false`; @huggingface/jinja compares loosely ("" == false),
	// Python keeps the empty <<SYS>> block, as llama.cpp does.
	"llama2/empty-system": "loose != in @huggingface/jinja",
}

func messagesOf(conv []map[string]string) []backend.Message {
	out := make([]backend.Message, len(conv))
	for i, m := range conv {
		out[i] = backend.Message{Role: m["role"], Content: m["content"]}
	}
	return out
}

// TestChatTemplateReference requires byte-identical rendering with each family's real Jinja template,
// and, where the Jinja template refuses a conversation (e.g. Gemma 2 with a system message), the
// text llama.cpp's built-in renderer gives.
func TestChatTemplateReference(t *testing.T) {
	ref := loadChatReference(t)
	if ref.LlamaCpp == "" {
		t.Fatal("the reference has no llama.cpp renderings; regenerate it with chat-apply built")
	}
	families := map[string]bool{}
	checked := map[string]int{}
	for _, f := range ref.Families {
		tmpl, err := detectChatTemplate(f.Template)
		if err != nil {
			t.Errorf("%s (%s): %v", f.Name, f.Source, err)
			continue
		}
		if tmpl.family != f.Family {
			t.Errorf("%s: detected %q, want %q", f.Name, tmpl.family, f.Family)
			continue
		}
		families[f.Family] = true
		tmpl.bos, tmpl.eos = f.BOS, f.EOS
		if len(f.Cases) != len(ref.Conversations) {
			t.Fatalf("%s: %d cases for %d conversations", f.Name, len(f.Cases), len(ref.Conversations))
		}
		for _, c := range f.Cases {
			key := f.Name + "/" + c.Conversation
			got, err := tmpl.Render(messagesOf(ref.Conversations[c.Conversation]))
			if err != nil {
				if c.Jinja == nil {
					continue // refused by both
				}
				t.Errorf("%s: %v; Jinja renders %q", key, err, *c.Jinja)
				continue
			}
			want, from := "", ""
			switch _, quirk := knownJinjaQuirks[key]; {
			case c.Jinja != nil && !quirk:
				want, from = *c.Jinja, ref.Jinja
			case c.LlamaCpp != nil:
				want, from = *c.LlamaCpp, "llama.cpp"
				if tmpl.leadingBOS || tmpl.bosEachTurn {
					want = f.BOS + want
				}
			default:
				t.Errorf("%s: rendered %q, but neither reference renders it (%s; %s)", key, got, c.JinjaError, c.LlamaCppError)
				continue
			}
			if got != want {
				t.Errorf("%s:\n got  %q\n want %q (%s)", key, got, want, from)
			}
			checked[from]++
		}
	}
	t.Logf("byte-identical renderings: %v", checked)
	for _, fam := range Families {
		if fam != FamilyPlain && !families[fam] {
			t.Errorf("family %s has no reference template", fam)
		}
	}
}

func TestDetectChatTemplate(t *testing.T) {
	for src, want := range map[string]string{
		"":                                   FamilyPlain,
		"chatml":                             FamilyChatML,
		"llama3":                             FamilyLlama3,
		"{{ '<|im_start|>' }}":               FamilyChatML,
		"{% if x %}[INST]{% endif %}<<SYS>>": FamilyLlama2,
		`{{ '<|user|>\n' + message['content'] + eos_token }}<|assistant|>`: FamilyZephyr,
		"<|user|><|endoftext|>": FamilyZephyr,
	} {
		tmpl, err := detectChatTemplate(src)
		if err != nil || tmpl.family != want {
			t.Errorf("%q: got %v %v, want %s", src, tmpl, err, want)
		}
	}
	// Falcon 3 style (no end marker after user turns) is not Zephyr.
	falcon := `{{ '<|user|>\n' + message['content'] + '\n' }}{{ '<|assistant|>\n' + message['content'] + eos_token }}`
	for _, src := range []string{"{{ messages }}", "<|im_start|><|im_sep|>", "<|start_of_role|>", falcon} {
		if _, err := detectChatTemplate(src); !errors.Is(err, ErrUnknownTemplate) {
			t.Errorf("%q: got %v, want ErrUnknownTemplate", src, err)
		}
	}
	// Qwen's default system turn is read from the template, escapes decoded.
	tmpl, err := detectChatTemplate(`{{ '<|im_start|>system\nYou are \'Q\'.\nBe kind.<|im_end|>\n' }}`)
	if err != nil || tmpl.defaultSystem != "You are 'Q'.\nBe kind." {
		t.Fatalf("default system %q, %v", tmpl.defaultSystem, err)
	}
}

func TestRenderRejects(t *testing.T) {
	for _, fam := range []string{FamilyMistralV3, FamilyLlama2, FamilyChatML, FamilyPlain} {
		tmpl, err := detectChatTemplate(fam)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tmpl.Render(nil); !errors.Is(err, backend.ErrInvalidRequest) {
			t.Errorf("%s: no messages: %v", fam, err)
		}
		if _, err := tmpl.Render([]backend.Message{{Role: "tool", Content: "x"}}); !errors.Is(err, backend.ErrInvalidRequest) {
			t.Errorf("%s: tool role: %v", fam, err)
		}
	}
	tmpl, _ := detectChatTemplate(FamilyMistralV3)
	_, err := tmpl.Render([]backend.Message{{Role: "user", Content: "a"}, {Role: "system", Content: "late"}})
	if !errors.Is(err, backend.ErrInvalidRequest) || !strings.Contains(err.Error(), "first message") {
		t.Fatalf("late system message: %v", err)
	}
}

// TestForcedFamilyRendersReference: a family forced by name renders like its reference template.
func TestForcedFamilyRendersReference(t *testing.T) {
	ref := loadChatReference(t)
	refOf := map[string]string{
		FamilyChatML: "chatml-openhermes", FamilyLlama3: "llama3.2", FamilyMistralV7: "mistral-v7",
		FamilyMistralV3: "mistral-v3", FamilyMistralV3Tekken: "mistral-v3-tekken", FamilyMistralV1: "mistral-v1",
		FamilyLlama2: "llama2", FamilyGemma: "gemma3", FamilyPhi3: "phi3", FamilyZephyr: "zephyr", FamilyDeepSeek3: "deepseek3",
	}
	for _, f := range ref.Families {
		for name, refName := range refOf {
			if refName != f.Name {
				continue
			}
			forced, err := detectChatTemplate(name)
			if err != nil {
				t.Fatal(err)
			}
			detected, err := detectChatTemplate(f.Template)
			if err != nil {
				t.Fatal(err)
			}
			forced.bos, forced.eos, detected.bos, detected.eos = f.BOS, f.EOS, f.BOS, f.EOS
			for conv, msgs := range ref.Conversations {
				a, errA := forced.Render(messagesOf(msgs))
				b, errB := detected.Render(messagesOf(msgs))
				if a != b || (errA == nil) != (errB == nil) {
					t.Errorf("%s forced vs %s on %s: %q (%v) vs %q (%v)", name, f.Name, conv, a, errA, b, errB)
				}
			}
			delete(refOf, name)
		}
	}
	if len(refOf) != 0 {
		t.Errorf("no reference template for forced families %v", refOf)
	}
}
