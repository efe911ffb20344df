package payment

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/cocoon-go/cocoon/internal/fastjson"
)

// Content gathers what an answer delivered, choice by choice, from OpenAI-shaped JSON: a whole
// chat or text completion, or the data of each stream chunk in order. Its Hash is the receipt's
// responseHash, so a client that received the same answer (streamed or not) computes the same
// hash. What counts, per choice: the content text (chat message.content / delta.content, or text),
// the refusal text, each tool call's id, type, function name and arguments (streamed pieces
// concatenated per tool-call index), and the last non-null finish_reason. Role, logprobs and usage
// do not count.
//
// The zero value is ready to use; not safe for concurrent use.
type Content struct {
	choices map[int]*choiceContent
}

type choiceContent struct {
	finish, content, refusal string
	tools                    map[int]*toolContent
}

type toolContent struct {
	id, typ, name, args string
}

// wire shapes: only the fields that count, everything else ignored.
type wireAnswer struct {
	Choices []wireChoice `json:"choices"`
}

type wireChoice struct {
	Index        int          `json:"index"`
	Text         *string      `json:"text"`
	Message      *wireMessage `json:"message"`
	Delta        *wireMessage `json:"delta"`
	FinishReason *string      `json:"finish_reason"`
}

type wireMessage struct {
	Content   *string    `json:"content"`
	Refusal   *string    `json:"refusal"`
	ToolCalls []wireTool `json:"tool_calls"`
}

type wireTool struct {
	Index    *int    `json:"index"`
	ID       *string `json:"id"`
	Type     *string `json:"type"`
	Function *struct {
		Name      *string `json:"name"`
		Arguments *string `json:"arguments"`
	} `json:"function"`
}

// Add takes one whole answer or one stream chunk's data (the JSON after "data: "; not "[DONE]").
func (c *Content) Add(data []byte) error {
	var a wireAnswer
	if err := fastjson.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("failed to read answer content: %w", err)
	}
	if c.choices == nil {
		c.choices = map[int]*choiceContent{}
	}
	for _, ch := range a.Choices {
		cc := c.choices[ch.Index]
		if cc == nil {
			cc = &choiceContent{tools: map[int]*toolContent{}}
			c.choices[ch.Index] = cc
		}
		if ch.Text != nil {
			cc.content += *ch.Text
		}
		for _, m := range []*wireMessage{ch.Message, ch.Delta} {
			if m == nil {
				continue
			}
			if m.Content != nil {
				cc.content += *m.Content
			}
			if m.Refusal != nil {
				cc.refusal += *m.Refusal
			}
			for pos, t := range m.ToolCalls {
				i := pos // a whole message lists its calls in order; a delta names the index
				if t.Index != nil {
					i = *t.Index
				}
				tc := cc.tools[i]
				if tc == nil {
					tc = &toolContent{}
					cc.tools[i] = tc
				}
				tc.id += deref(t.ID)
				tc.typ += deref(t.Type)
				if t.Function != nil {
					tc.name += deref(t.Function.Name)
					tc.args += deref(t.Function.Arguments)
				}
			}
		}
		if ch.FinishReason != nil {
			cc.finish = *ch.FinishReason
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Text is the content text of choice i so far.
func (c *Content) Text(i int) string {
	if cc := c.choices[i]; cc != nil {
		return cc.content
	}
	return ""
}

// Hash is SHA-256 over "cocoon-content-v1" then, for each choice in index order: index (uint32),
// finish_reason, content, refusal, the number of tool calls (uint32) and for each tool call in
// index order: index (uint32), id, type, name, arguments; every string as its byte length
// (uint32) and bytes; integers big-endian.
func (c *Content) Hash() [32]byte {
	h := sha256.New()
	h.Write([]byte("cocoon-content-v1"))
	u32 := func(v int) {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(v))
		h.Write(b[:])
	}
	str := func(s string) {
		u32(len(s))
		h.Write([]byte(s))
	}
	for _, i := range sortedKeys(c.choices) {
		cc := c.choices[i]
		u32(i)
		str(cc.finish)
		str(cc.content)
		str(cc.refusal)
		u32(len(cc.tools))
		for _, j := range sortedKeys(cc.tools) {
			t := cc.tools[j]
			u32(j)
			str(t.id)
			str(t.typ)
			str(t.name)
			str(t.args)
		}
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return slices.Clip(keys)
}
