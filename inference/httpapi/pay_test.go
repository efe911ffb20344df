package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/cocoon-go/cocoon/openai"
)

// The answer with its payment spliced in is the answer encoded with the payment set.
func TestWithPayment(t *testing.T) {
	p := &openai.Payment{Channel: "0:ab", Cost: "12", CostTON: "0.000000012", Owed: "99", Receipt: "x<y>&z"}
	fin := "stop"
	head := openai.ResponseHead{ID: "chatcmpl-1", Object: "chat.completion", Created: 1, Model: "m", SystemFingerprint: "fp"}
	chat := &openai.ChatCompletion{ResponseHead: head, Choices: []openai.ChatChoice{{Message: openai.ResponseMessage{Role: "assistant", Content: "hi }}"}, FinishReason: "stop"}},
		Usage: openai.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}}
	u := openai.Usage{PromptTokens: 4, TotalTokens: 4}
	text := &openai.Completion{ResponseHead: head, Choices: []openai.CompletionChoice{{Text: "}}", FinishReason: &fin}}, Usage: &u}
	for name, c := range map[string]struct {
		resp any
		u    *openai.Usage
	}{"chat": {chat, &chat.Usage}, "completion": {text, &u}} {
		answer, err := json.Marshal(c.resp)
		if err != nil {
			t.Fatal(err)
		}
		c.u.Cocoon = p
		want, _ := json.Marshal(c.resp)
		got, err := withPayment(answer, c.resp, p)
		if err != nil || string(got) != string(want) {
			t.Fatalf("%s: got %s (%v)\nwant %s", name, got, err, want)
		}
		c.u.Cocoon = nil
	}
}
