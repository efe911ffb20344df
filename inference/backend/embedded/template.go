package embedded

import (
	"fmt"
	"strings"

	"github.com/cocoon-go/cocoon/inference/backend"
)

// ChatTemplate is the plain-text chat format of the embedded backend, documented in
// docs/PROTOCOL.md. The default model is a base model that was never trained on a chat format, so
// the template is the simplest text such a model can continue:
//
//	System: <content>\n      (each system or developer message)
//	User: <content>\n        (each user message)
//	Assistant: <content>\n   (each earlier assistant message)
//	Assistant:               (the model writes from here)
//
// Generation stops at ChatStop (the model starting the next user turn), which is not returned.
const ChatTemplate = "{{for each message}}<Role>: <content>\\n{{end}}Assistant:"

// ChatStop is the stop sequence added to every chat request.
const ChatStop = "\nUser:"

var roleLabel = map[string]string{"system": "System", "user": "User", "assistant": "Assistant", "developer": "System"}

// RenderChat turns messages into the prompt text, or fails on an unknown role.
func RenderChat(msgs []backend.Message) (string, error) {
	if len(msgs) == 0 {
		return "", backend.InvalidRequest("messages", "messages must not be empty")
	}
	var b strings.Builder
	for i, m := range msgs {
		label, ok := roleLabel[m.Role]
		if !ok {
			return "", backend.InvalidRequest(fmt.Sprintf("messages[%d].role", i),
				"unsupported role %q in messages[%d]: want system, developer, user or assistant", m.Role, i)
		}
		b.WriteString(label)
		b.WriteString(": ")
		b.WriteString(m.Content)
		b.WriteString("\n")
	}
	b.WriteString("Assistant:")
	return b.String(), nil
}
