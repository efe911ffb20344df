package provider_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/openai"
	"github.com/cocoon-go/cocoon/payment"
	"github.com/cocoon-go/cocoon/provider/providertest"
	"github.com/cocoon-go/cocoon/voucher"
)

// A paid chat request: RA-TLS, voucher, receipt signed by the attested key, usage in the body and
// headers, the channel view.
func TestPaidChat(t *testing.T) {
	n := providertest.NewNet(t, providertest.Options{})
	dataDir := t.TempDir()
	p, _ := n.StartProvider(n.Config(dataDir))
	c := n.OpenClient("a", "1").Connect(p)
	body := `{"model":"` + models.DefaultModelName + `","messages":[{"role":"user","content":"Hello"}],"max_tokens":4,"temperature":0}`
	cc, r := c.Chat(body)
	require.Equal(t, 4, cc.Usage.CompletionTokens)
	require.Equal(t, r.Cost.String(), r.Owed.String())
	// The next request pays for the first: the voucher covers what is owed.
	_, r2 := c.Chat(body)
	require.Equal(t, new(big.Int).Add(r.Cost, r2.Cost).String(), r2.Owed.String())
	v := c.View()
	require.Equal(t, r2.Owed.String(), v.Owed)
	require.Equal(t, r.Owed.String(), v.VoucherAmount, "the voucher held is the last one sent")
	require.Equal(t, c.Prompt, v.PromptTokens)
	require.Equal(t, c.Completion, v.CompletionTokens)
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
	resp, b := c.Do(c.Request("GET", "/v1/models", "", "x"))
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, json.Unmarshal(b, &models))
	require.Len(t, models.Data, 1)
	require.Equal(t, n.ModelID, models.Data[0].Cocoon.ModelID)
	require.Equal(t, providertest.Prices.Prompt.String(), models.Data[0].Cocoon.PromptPrice)

	// The receipts, as sent, are in the receipt log once the provider stopped: a line each.
	require.NoError(t, p.Stop(n.Ctx))
	logs, err := filepath.Glob(filepath.Join(dataDir, "receipts", "*.log"))
	require.NoError(t, err)
	var lines []string
	for _, f := range logs {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		lines = append(lines, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	require.Len(t, lines, 2, "one line per receipt")
	for i, r := range []payment.SignedReceipt{r, r2} {
		enc, err := r.Encode()
		require.NoError(t, err)
		f := strings.Fields(lines[i])
		require.Equal(t, []string{strconv.FormatInt(r.IssuedAt.Unix(), 10), r.Channel.StringRaw(), strconv.Itoa(i + 1), enc}, f)
	}
}

// Streams (chat and completions) end with the usage chunk carrying the payment, asked for or not;
// the receipt's response hash is the streamed content's, the same as the answer's non-streamed.
func TestPaidStreams(t *testing.T) {
	n := providertest.NewNet(t, providertest.Options{})
	p, _ := n.StartProvider(n.Config(t.TempDir()))
	c := n.OpenClient("a", "1").Connect(p)
	chat := `{"model":"` + models.DefaultModelName + `","messages":[{"role":"user","content":"Hello"}],"max_tokens":6,"temperature":0,"stream":true}`
	s := c.Stream("/v1/chat/completions", chat)
	require.Equal(t, 200, s.Status, "%s", s.Body)
	require.True(t, s.Done)
	require.Equal(t, 6, s.Usage.CompletionTokens)
	// The same request not streamed delivers the same content: the same response hash.
	_, r := c.Chat(strings.Replace(chat, `,"stream":true`, "", 1))
	require.Equal(t, s.Receipt.ResponseHash, r.ResponseHash)

	comp := `{"model":"` + models.DefaultModelName + `","prompt":"In the beginning","max_tokens":5,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}`
	s = c.Stream("/v1/completions", comp)
	require.Equal(t, 200, s.Status, "%s", s.Body)
	require.True(t, s.Done)
	require.Equal(t, 5, s.Usage.CompletionTokens)
	require.Equal(t, c.Owed.String(), c.View().Owed)
}

// Every refusal before serving is a 402 with the protocol's code and changes nothing.
func TestRefusals(t *testing.T) {
	n := providertest.NewNet(t, providertest.Options{})
	p, _ := n.StartProvider(n.Config(t.TempDir()))
	c := n.OpenClient("a", "1").Connect(p)
	other := n.OpenClient("b", "1").Connect(p)
	body := `{"model":"` + models.DefaultModelName + `","prompt":"In the beginning","max_tokens":3,"temperature":0}`
	path := "/v1/completions"
	_, first := c.Chat(`{"model":"` + models.DefaultModelName + `","messages":[{"role":"user","content":"Hi"}],"max_tokens":3}`)
	owed := first.Owed

	t.Run("missing voucher", func(t *testing.T) {
		req := c.Request("POST", path, body, "")
		req.Header.Del(voucher.HeaderVoucher)
		c.Refused(req, payment.CodeVoucherMissing)
		req = c.Request("POST", path, body, "")
		req.Header.Del(payment.HeaderChannel)
		c.Refused(req, payment.CodeVoucherMissing)
	})
	t.Run("malformed voucher", func(t *testing.T) {
		c.Refused(c.Request("POST", path, body, "not-a-voucher.x"), payment.CodeVoucherInvalid)
	})
	t.Run("forged voucher", func(t *testing.T) {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		s, err := voucher.Voucher{Channel: c.Ch, Amount: owed}.Sign(key)
		require.NoError(t, err)
		h, err := voucher.EncodeHeader(&s)
		require.NoError(t, err)
		c.Refused(c.Request("POST", path, body, h), payment.CodeVoucherInvalid)
	})
	t.Run("other channel's voucher", func(t *testing.T) {
		c.Refused(c.Request("POST", path, body, other.Voucher(owed)), payment.CodeVoucherInvalid)
	})
	t.Run("voucher too low", func(t *testing.T) {
		// The first answer is owed and not yet covered: the voucher must reach it.
		h := c.Refused(c.Request("POST", path, body, c.Voucher(big.NewInt(0))), payment.CodeVoucherTooLow)
		require.Equal(t, owed.String(), h.Get(payment.HeaderVoucherMin))
		require.Equal(t, owed.String(), h.Get(payment.HeaderOwed))
	})
	t.Run("forged authorization", func(t *testing.T) {
		req := c.Request("POST", path, body, "")
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		auth, err := payment.SignRequest(key, c.Ch, "POST", path, []byte(body), time.Now())
		require.NoError(t, err)
		req.Header.Set(payment.HeaderAuth, auth)
		c.Refused(req, payment.CodeAuthInvalid)
		req = c.Request("POST", path, body, "")
		req.Header.Del(payment.HeaderAuth)
		c.Refused(req, payment.CodeAuthInvalid)
		// Signed for another body.
		req = c.Request("POST", path, body, "")
		req.Body = io.NopCloser(strings.NewReader(strings.Replace(body, "3", "9", 1)))
		req.ContentLength = int64(len(body))
		c.Refused(req, payment.CodeAuthInvalid)
		// Stale.
		req = c.Request("POST", path, body, "")
		auth, err = payment.SignRequest(c.Key, c.Ch, "POST", path, []byte(body), time.Now().Add(-3*time.Minute))
		require.NoError(t, err)
		req.Header.Set(payment.HeaderAuth, auth)
		c.Refused(req, payment.CodeAuthInvalid)
	})
	t.Run("replayed", func(t *testing.T) {
		req := c.Request("POST", path, body, "")
		auth := req.Header.Get(payment.HeaderAuth)
		resp, b := c.Do(req)
		require.Equal(t, 200, resp.StatusCode, "%s", b)
		var cc openai.Completion
		require.NoError(t, json.Unmarshal(b, &cc))
		c.Owed, _ = new(big.Int).SetString(cc.Usage.Cocoon.Owed, 10)
		req = c.Request("POST", path, body, "")
		req.Header.Set(payment.HeaderAuth, auth)
		c.Refused(req, payment.CodeAuthInvalid)
	})
	t.Run("voucher goes backwards", func(t *testing.T) {
		c.Refused(c.Request("POST", path, body, c.Voucher(new(big.Int).Sub(first.Owed, big.NewInt(1)))), payment.CodeVoucherInvalid)
	})
	t.Run("not a channel of this provider", func(t *testing.T) {
		req := c.Request("POST", path, body, "")
		req.Header.Set(payment.HeaderChannel, n.OwnerAddr.StringRaw())
		resp, b := c.Do(req)
		require.Equal(t, http.StatusPaymentRequired, resp.StatusCode)
		require.Contains(t, string(b), payment.CodeVoucherInvalid, "the voucher names another channel")
		// A voucher for that address, signed by some key: still not a channel of this provider.
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		s, err := voucher.Voucher{Channel: n.OwnerAddr, Amount: big.NewInt(0)}.Sign(key)
		require.NoError(t, err)
		h, err := voucher.EncodeHeader(&s)
		require.NoError(t, err)
		req = c.Request("POST", path, body, h)
		req.Header.Set(payment.HeaderChannel, n.OwnerAddr.StringRaw())
		resp, b = c.Do(req)
		require.Equal(t, http.StatusPaymentRequired, resp.StatusCode)
		require.Contains(t, string(b), `"code":"`+payment.CodeChannelUnknown+`"`)
	})
	t.Run("deposit too low", func(t *testing.T) {
		// Without max_tokens a request may bring the rest of the context window: 0.05 TON.
		poor := n.OpenClient("poor", "0.000001").Connect(p)
		poor.Refused(poor.Request("POST", path, strings.Replace(body, `"max_tokens":3,`, "", 1), ""), payment.CodeDepositTooLow)
	})
	t.Run("closing channel", func(t *testing.T) {
		other.CloseChannel()
		require.Eventually(t, func() bool {
			resp, b := other.Do(other.Request("POST", path, body, ""))
			return resp.StatusCode == http.StatusPaymentRequired && strings.Contains(string(b), payment.CodeChannelNotOpen)
		}, 30*time.Second, 50*time.Millisecond)
		other.Refused(other.Request("POST", path, body, ""), payment.CodeChannelNotOpen)
	})
}

// Connection authorization: a connection whose TLS client certificate is the channel's key sends
// its requests unsigned, and the provider serves, bills and signs receipts for them as for signed
// ones; a connection with another key, or none, gets the usual refusal; a signature sent anyway
// is checked; answers on such a connection say so.
func TestConnectionAuthorization(t *testing.T) {
	n := providertest.NewNet(t, providertest.Options{})
	p, _ := n.StartProvider(n.Config(t.TempDir()))
	c := n.OpenClient("a", "1").Connect(p)
	other := n.OpenClient("b", "1").Connect(p)
	body := `{"model":"` + models.DefaultModelName + `","prompt":"In the beginning","max_tokens":3,"temperature":0}`
	path := "/v1/completions"
	plain := c.HTTP
	unsigned := func() *http.Request {
		req := c.Request("POST", path, body, "")
		req.Header.Del(payment.HeaderAuth)
		return req
	}

	// A signed request on a plain connection: served, nothing said about the connection.
	resp, b := c.Do(c.Request("POST", path, body, ""))
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	require.Empty(t, resp.Header.Get(payment.HeaderConnAuth))
	learn := func(b []byte) payment.SignedReceipt {
		var cc openai.Completion
		require.NoError(t, json.Unmarshal(b, &cc))
		var content payment.Content
		require.NoError(t, content.Add(b))
		return c.CheckReceipt(cc.Usage.Cocoon.Receipt, []byte(body), &content)
	}
	learn(b)

	c.HTTP = c.ConnAuthHTTP(c.Key)
	// Signed, on a connection with the channel's key: served, and told it may stop signing.
	resp, b = c.Do(c.Request("POST", path, body, ""))
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	require.Equal(t, "ok", resp.Header.Get(payment.HeaderConnAuth))
	learn(b)
	// Unsigned, three times on the connection: each served, billed and receipted.
	for range 3 {
		owedBefore := new(big.Int).Set(c.Owed)
		resp, b = c.Do(unsigned())
		require.Equal(t, 200, resp.StatusCode, "%s", b)
		require.Equal(t, "ok", resp.Header.Get(payment.HeaderConnAuth))
		r := learn(b)
		require.Equal(t, 1, c.Owed.Cmp(owedBefore), "each answer is billed")
		require.Equal(t, r.Owed.String(), c.Owed.String())
	}
	require.Equal(t, c.Owed.String(), c.View().Owed, "the channel view agrees")
	// The view is always signed, whatever the connection.
	vreq, err := http.NewRequest(http.MethodGet, c.Base+payment.ChannelPathPrefix+c.Ch.StringRaw(), nil)
	require.NoError(t, err)
	vreq.Header.Set(payment.HeaderChannel, c.Ch.StringRaw())
	resp, b = c.Do(vreq)
	require.Equal(t, http.StatusPaymentRequired, resp.StatusCode, "%s", b)
	require.Contains(t, string(b), payment.CodeAuthInvalid)
	// A streamed answer on the connection, unsigned.
	sreq := c.Request("POST", "/v1/chat/completions", `{"model":"`+models.DefaultModelName+`","messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"stream":true}`, "")
	sreq.Header.Del(payment.HeaderAuth)
	resp, b = c.Do(sreq)
	require.Equal(t, 200, resp.StatusCode, "%s", b)
	require.Contains(t, string(b), "data: [DONE]")

	// A signature sent anyway is checked: a forged one is refused even on this connection.
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	req := c.Request("POST", path, body, "")
	forged, err := payment.SignRequest(stranger, c.Ch, "POST", path, []byte(body), time.Now())
	require.NoError(t, err)
	req.Header.Set(payment.HeaderAuth, forged)
	c.Refused(req, payment.CodeAuthInvalid)
	// The connection's key is c's: another channel's unsigned request on it is refused.
	oreq := other.Request("POST", path, body, "")
	oreq.Header.Del(payment.HeaderAuth)
	resp, b = c.Do(oreq)
	require.Equal(t, http.StatusPaymentRequired, resp.StatusCode, "%s", b)
	require.Contains(t, string(b), payment.CodeAuthInvalid)
	require.Empty(t, resp.Header.Get(payment.HeaderConnAuth))

	// A connection with some other key, and a plain one: unsigned requests are refused.
	c.HTTP = c.ConnAuthHTTP(stranger)
	h := c.Refused(unsigned(), payment.CodeAuthInvalid)
	require.Empty(t, h.Get(payment.HeaderConnAuth))
	c.HTTP = plain
	c.Refused(unsigned(), payment.CodeAuthInvalid)
}
