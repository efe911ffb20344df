package e2e

import (
	"crypto/ed25519"
	"crypto/sha256"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/demo"
	"github.com/cocoon-go/cocoon/payment"
	"github.com/cocoon-go/cocoon/voucher"
)

// TestForgedAndReplayedPaymentsE2E: a client speaking to a provider process directly sends a
// voucher signed with another key, a request signed with another key, a request replayed byte
// for byte, and an older voucher after a newer one: each is refused with 402 and changes nothing
// the provider holds; the provider's claim on-chain is exactly what the genuine answers cost.
func TestForgedAndReplayedPaymentsE2E(t *testing.T) {
	n, ctx := startNet(t, func(c *demo.Config) { c.Providers[0].ThresholdTON = "1000" })
	p := n.Providers[0]
	c := payingClient(t, ctx, n, p, "payments", "1")

	_, first := c.Chat(chatBody("And God said", 8, false))
	require.Positive(t, first.Cost.Sign())

	// A voucher signed with a key that is not the channel's: refused, nothing held changes.
	s := sha256.Sum256([]byte("not the channel key"))
	other := ed25519.NewKeyFromSeed(s[:])
	forged := voucher.Voucher{Channel: c.Ch, Amount: new(big.Int).Add(first.Owed, ton("0.5")), PromptTokens: 1 << 20, CompletionTokens: 1 << 20}
	fs, err := forged.Sign(other)
	require.NoError(t, err)
	fh, err := voucher.EncodeHeader(&fs)
	require.NoError(t, err)
	c.Refused(c.Request("POST", "/v1/chat/completions", chatBody("forged voucher", 8, false), fh), "voucher_invalid")

	// A request signed with another key (the voucher genuine): refused before anything else.
	body := chatBody("forged request", 8, false)
	req := c.Request("POST", "/v1/chat/completions", body, "")
	auth, err := payment.SignRequest(other, c.Ch, "POST", "/v1/chat/completions", []byte(body), time.Now())
	require.NoError(t, err)
	req.Header.Set(payment.HeaderAuth, auth)
	c.Refused(req, "request_auth_invalid")

	// A genuine request, then the same bytes again: the provider served it once.
	body = chatBody("In the beginning", 8, false)
	req = c.Request("POST", "/v1/chat/completions", body, "")
	replay := cloneRequest(t, req, body)
	resp, b := c.Do(req)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	var content payment.Content
	require.NoError(t, content.Add(b))
	second := c.CheckReceipt(resp.Header.Get(payment.HeaderReceipt), []byte(body), &content)
	c.Refused(replay, "request_auth_invalid")

	// An older voucher (the amount of the first answer) after the newer one: it goes backwards.
	old := voucher.Voucher{Channel: c.Ch, Amount: first.Owed, PromptTokens: first.PromptTokens, CompletionTokens: first.CompletionTokens}
	os, err := old.Sign(c.Key)
	require.NoError(t, err)
	oh, err := voucher.EncodeHeader(&os)
	require.NoError(t, err)
	// The provider holds the voucher of the second request (owed before it): send one more genuine
	// request so that it holds the newest, then the older one.
	_, third := c.Chat(chatBody("And the earth", 8, false))
	c.Refused(c.Request("POST", "/v1/chat/completions", chatBody("old voucher", 8, false), oh), "voucher_invalid")

	// What the provider holds is what the genuine answers cost; at its stop it claims exactly that.
	v := c.View()
	require.Equal(t, third.Owed.String(), v.Owed)
	require.Equal(t, new(big.Int).Add(new(big.Int).Add(first.Cost, second.Cost), third.Cost).String(), v.Owed)
	// The client pays for the third answer with its next voucher: sign it and let the provider claim.
	_, fourth := c.Chat(chatBody("Let there be light", 8, false))
	require.Equal(t, fourth.Owed.String(), new(big.Int).Add(third.Owed, fourth.Cost).String())
	require.NoError(t, p.Stop(30*time.Second), "a graceful stop claims what the provider holds")
	// The voucher held covers every answer but the last (the client pays for an answer with its
	// next request's voucher).
	cc := contracts.ChannelClient{Chain: n.Chain, Address: c.Ch}
	eventually(t, "the claim at the provider's stop", 30*time.Second, func() bool {
		st, err := cc.State(ctx)
		return err == nil && st.Paid.Nano().Sign() > 0
	})
	st, err := cc.State(ctx)
	require.NoError(t, err)
	require.Equal(t, third.Owed.String(), st.Paid.Nano().String(), "claimed: the genuine answers the vouchers covered, nothing forged")
	require.Equal(t, third.Owed.String(), st.AcceptedAmount.Nano().String())
}

// cloneRequest is a second request with req's method, URL, headers and body.
func cloneRequest(t *testing.T, req *http.Request, body string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(req.Method, req.URL.String(), strings.NewReader(body))
	require.NoError(t, err)
	r.Header = req.Header.Clone()
	return r
}
