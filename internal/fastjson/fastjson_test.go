package fastjson

import (
	"encoding/json"
	"reflect"
	"testing"
)

// shapes are the kinds of types the paid path decodes into: pointers that tell null from absent,
// raw messages passed through, nested slices of anonymous structs, maps and interfaces, and a type
// with its own UnmarshalJSON.
type answer struct {
	ID      string `json:"id"`
	Choices []struct {
		Index        int              `json:"index"`
		Text         *string          `json:"text"`
		Message      *message         `json:"message"`
		Delta        *message         `json:"delta"`
		Logprobs     json.RawMessage  `json:"logprobs"`
		FinishReason *string          `json:"finish_reason"`
		Extra        map[string]any   `json:"extra"`
		Any          any              `json:"any"`
		Stop         stringOrList     `json:"stop"`
		Floats       []float64        `json:"floats"`
		Tokens       *uint64          `json:"tokens"`
		Raw          *json.RawMessage `json:"raw"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

type message struct {
	Role      string          `json:"role"`
	Content   *string         `json:"content"`
	ToolCalls json.RawMessage `json:"tool_calls"`
}

// stringOrList is OpenAI's "stop": a string or a list of strings.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

var corpus = []string{
	`{"id":"a","choices":[{"index":0,"message":{"role":"assistant","content":"a\u003cb\u0026\ud83d\ude00 \"q\" \\ \n\t\u0000"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":5}}`,
	`{"choices":[{"index":1,"delta":{"content":null,"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"x\":1}"}}]},"logprobs":{"content":[{"token":"t","logprob":-0.5}]}}]}`,
	`{"Choices":[{"MESSAGE":{"Content":"keys match case-insensitively"}}]}`,
	`{"choices":[{"text":"first"}],"choices":[{"text":"the last duplicate wins"}]}`,
	"{\"choices\":[{\"text\":\"invalid \xff UTF-8 and a lone \\ud800 surrogate\"}]}",
	`{"choices":[{"extra":{"a":[1,2.5,"x",null,true,{"b":{}}]},"any":[1e300,-0.0,12345678901234567890],"stop":"one"}]}`,
	`{"choices":[{"stop":["a","b"],"floats":[1,1.5e-7,3.4028235e38,1e21],"tokens":18446744073709551615,"raw":{"k":[]}}]}`,
	`  {"id":"whitespace around"}  ` + "\n",
	`{"choices":null,"usage":null,"id":"nulls"}`,
	`{"choices":[{"index":"1"}]}`,
	`{"usage":{"prompt_tokens":1e3}}`,
	`{"usage":{"prompt_tokens":99999999999999999999}}`,
	`{"choices":[{"tokens":-1}]}`,
	`{"choices":[{"stop":5}]}`,
	`{"choices":[]} trailing`,
	`{"choices":[{"text":"a"}]`,
	`{"id":"a",}`,
	`{'id':'single quotes'}`,
	`[1,2]`,
	`null`,
	``,
	`{"id":"\u12"}`,
	`{"choices":[{"floats":[NaN]}]}`,
	`{"choices":[{"text":"ok"}]}{"second":"value"}`,
	`{"usage":{"prompt_tokens":1.0}}`,
	`{"usage":{"prompt_tokens":-0,"completion_tokens":01}}`,
	`{"choices":[{"tokens":18446744073709551616}]}`,
	`{"choices":[{"index":1,"index":"x"}]}`,
	`{"choices":[{"floats":[1e400]}]}`,
	`{"choices":[{"text":"\ud800\udc00"}],"ID":"x","id":"y"}`,
}

// On every input, Unmarshal gives exactly encoding/json's result: the same value when both
// decode, and encoding/json's error, word for word, when it refuses.
func TestUnmarshalIsEncodingJSON(t *testing.T) {
	for _, in := range corpus {
		var got, want answer
		gerr, werr := Unmarshal([]byte(in), &got), json.Unmarshal([]byte(in), &want)
		if (gerr == nil) != (werr == nil) || (werr != nil && gerr.Error() != werr.Error()) {
			t.Errorf("%q: error %v, encoding/json's %v", in, gerr, werr)
			continue
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%q: decoded\n%+v\nencoding/json\n%+v", in, got, want)
		}
	}
}

// A refused input leaves nothing of the quick attempt behind.
func TestQuickResetsOnFailure(t *testing.T) {
	v := answer{ID: "before"}
	if Quick([]byte(`{"id":"partial","choices":[{"index":"x"}]}`), &v) {
		t.Fatal("a wrong type decoded")
	}
	if !reflect.DeepEqual(v, answer{}) {
		t.Fatalf("after a refusal: %+v", v)
	}
	if Quick([]byte(`{}`), nil) || Quick([]byte(`{}`), answer{}) {
		t.Fatal("a nil or non-pointer target decoded")
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, in := range corpus {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var got, want answer
		gerr, werr := Unmarshal(in, &got), json.Unmarshal(in, &want)
		if (gerr == nil) != (werr == nil) || (werr != nil && gerr.Error() != werr.Error()) {
			t.Fatalf("%q: error %v, encoding/json's %v", in, gerr, werr)
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decoded %+v, encoding/json %+v", in, got, want)
		}
	})
}

func BenchmarkUnmarshal(b *testing.B) {
	data := []byte(corpus[0])
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var a answer
			_ = json.Unmarshal(data, &a)
		}
	})
	b.Run("fastjson", func(b *testing.B) {
		for b.Loop() {
			var a answer
			_ = Unmarshal(data, &a)
		}
	})
}
