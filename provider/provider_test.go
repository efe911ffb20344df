package provider_test

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/payment"
)

// A paid chat request: RA-TLS, voucher, receipt signed by the attested key, usage in the body and
// headers, the channel view.
func TestPaidChat(t *testing.T) {
	n := newTestNet(t, netOptions{kind: contracts.NetworkDevnet})
	p, _ := n.startProvider(n.config(t.TempDir()))
	c := n.openClient("a", "1").connect(p)
	body := `{"model":"` + models.DefaultModelName + `","messages":[{"role":"user","content":"Hello"}],"max_tokens":4,"temperature":0}`
	cc, r := c.chat(body)
	require.Equal(t, 4, cc.Usage.CompletionTokens)
	require.Equal(t, r.Cost.String(), r.Owed.String())
	// The next request pays for the first: the voucher covers what is owed.
	_, r2 := c.chat(body)
	require.Equal(t, new(big.Int).Add(r.Cost, r2.Cost).String(), r2.Owed.String())
	v := c.view()
	require.Equal(t, r2.Owed.String(), v.Owed)
	require.Equal(t, r.Owed.String(), v.VoucherAmount, "the voucher held is the last one sent")
	require.Equal(t, c.prompt, v.PromptTokens)
	require.Equal(t, c.completion, v.CompletionTokens)
	require.Equal(t, "0", v.Reserved)
	var models struct {
		Data []struct {
			ID     string `json:"id"`
			Cocoon struct {
				ModelID         uint32 `json:"model_id"`
				PromptPrice     string `json:"prompt_price"`
				CompletionPrice string `json:"completion_price"`
			} `json:"cocoon"`
		} `json:"data"`
	}
	resp, b := c.do(c.request("GET", "/v1/models", "", "x"))
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, json.Unmarshal(b, &models))
	require.Len(t, models.Data, 1)
	require.Equal(t, n.modelID, models.Data[0].Cocoon.ModelID)
	require.Equal(t, promptPrice.String(), models.Data[0].Cocoon.PromptPrice)
	_ = strings.TrimSpace
	_ = payment.HeaderOwed
}
