package provider_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/internal/fakeupstream"
	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/openai"
	"github.com/cocoon-go/cocoon/provider/providertest"
)

const tools = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"tool_choice":"auto"`

// What apps send today passes through to an upstream that implements it (tools and tool messages,
// response_format, logprobs), paid like any request, with the tool calls in the receipt's content
// hash; the embedded engine refuses tools with unsupported_parameter naming it.
func TestPassthrough(t *testing.T) {
	n := providertest.NewNet(t, providertest.Options{})
	fake := &fakeupstream.Server{}
	p, _ := n.StartProvider(n.UpstreamConfig(t.TempDir(), fake))
	c := n.OpenClient("a", "1").Connect(p)
	model := `"model":"` + models.DefaultModelName + `"`

	// A tool call, non-streamed: the receipt's response hash covers it (Chat checks).
	cc, whole := c.Chat(`{` + model + `,"messages":[{"role":"user","content":"weather in Paris?"}],` + tools + `,"max_tokens":20}`)
	require.Equal(t, "tool_calls", cc.Choices[0].FinishReason)
	var calls []struct {
		ID       string `json:"id"`
		Function struct{ Name, Arguments string }
	}
	require.NoError(t, json.Unmarshal(cc.Choices[0].Message.ToolCalls, &calls))
	require.Len(t, calls, 1)
	require.Equal(t, "get_weather", calls[0].Function.Name)
	require.Equal(t, `{"n": 20}`, calls[0].Function.Arguments)
	up := fake.Requests()[0]
	require.Contains(t, up, "tools")
	require.Equal(t, "auto", up["tool_choice"])

	// Streamed: the pieces arrive as tool_calls deltas; the streamed content hashes as the whole one.
	s := c.Stream("/v1/chat/completions", `{`+model+`,"messages":[{"role":"user","content":"weather in Paris?"}],`+tools+`,"max_tokens":20,"stream":true}`)
	require.True(t, s.Done)
	require.Equal(t, 7, s.Usage.CompletionTokens)
	require.Equal(t, whole.ResponseHash, s.Receipt.ResponseHash, "the same tool call hashes the same streamed or not")

	// The tool's result goes back as a tool message, passed through as sent.
	conv := `[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_fake","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_fake","content":"sunny"}]`
	c.Chat(`{` + model + `,"messages":` + conv + `,"max_tokens":3}`)
	msgs := fake.Requests()[2]["messages"].([]any)
	require.Equal(t, "call_fake", msgs[2].(map[string]any)["tool_call_id"])
	require.NotNil(t, msgs[1].(map[string]any)["tool_calls"])

	// response_format with a JSON schema, and logprobs.
	schema := `"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}`
	cc, _ = c.Chat(`{` + model + `,"messages":[{"role":"user","content":"hi"}],` + schema + `,"logprobs":true,"top_logprobs":2,"max_tokens":3}`)
	up = fake.Requests()[3]
	require.Equal(t, "json_schema", up["response_format"].(map[string]any)["type"])
	require.Equal(t, float64(2), up["top_logprobs"])
	require.Contains(t, string(cc.Choices[0].Logprobs), `"logprob":-0.5`)
	s = c.Stream("/v1/chat/completions", `{`+model+`,"messages":[{"role":"user","content":"hi"}],"logprobs":true,"max_tokens":3,"stream":true}`)
	require.True(t, s.Done)
	require.Contains(t, strings.Join(s.Events, "\n"), `"logprob":-0.5`)

	// The embedded engine cannot call tools: refused, naming the parameter, and not charged.
	e := providertest.NewNet(t, providertest.Options{})
	ep, _ := e.StartProvider(e.Config(t.TempDir()))
	ec := e.OpenClient("b", "1").Connect(ep)
	before := ec.View()
	resp, b := ec.Do(ec.Request("POST", "/v1/chat/completions", `{`+model+`,"messages":[{"role":"user","content":"hi"}],`+tools+`}`, ""))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	var body openai.ErrorBody
	require.NoError(t, json.Unmarshal(b, &body))
	require.Equal(t, "unsupported_parameter", *body.Error.Code)
	require.Equal(t, "tools", *body.Error.Param)
	require.Equal(t, before.Owed, ec.View().Owed)
}
