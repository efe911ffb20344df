package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cocoon-go/cocoon/models"
)

// What the demo reads of the gateway's API (docs/PROTOCOL.md "Gateway"): it talks to it over
// HTTP as any program would.

// GatewayProvider is a provider in GET /cocoon/v1/providers.
type GatewayProvider struct {
	ID           string         `json:"provider"`
	Endpoint     string         `json:"endpoint"`
	Verified     bool           `json:"verified"`
	Dropped      string         `json:"dropped"`
	Verification *Verification  `json:"verification"`
	Models       []GatewayPrice `json:"models"`
}

// GatewayPrice is a provider's price of a model, TON per 1M tokens.
type GatewayPrice struct {
	Model      string `json:"model"`
	Prompt     string `json:"prompt_per_million_ton"`
	Completion string `json:"completion_per_million_ton"`
}

// Verification is the part of a provider's verification report the demo shows.
type Verification struct {
	Provider        string    `json:"provider"`
	Endpoint        string    `json:"endpoint"`
	OK              bool      `json:"ok"`
	Refusals        []string  `json:"refusals"`
	Status          string    `json:"status"`
	StakeTON        string    `json:"stake_ton"`
	MinStakeTON     string    `json:"min_stake_ton"`
	Attested        bool      `json:"attested"`
	ValidUntil      time.Time `json:"valid_until"`
	Oracles         []string  `json:"oracles"`
	AllowedKind     string    `json:"allowed_kind"`
	Kind            string    `json:"kind"`
	Simulated       bool      `json:"simulated"`
	Measurement     string    `json:"measurement"`
	TLSKeyHash      string    `json:"tls_key_hash"`
	ChainTLSKeyHash string    `json:"chain_tls_key_hash"`
	Nonce           string    `json:"nonce"`
	ProbeMillis     float64   `json:"probe_ms"`
}

// Record is the gateway's record of a request (GET /cocoon/v1/requests/{id}).
type Record struct {
	ID               string          `json:"id"`
	Status           int             `json:"status"`
	Error            string          `json:"error"`
	Provider         string          `json:"provider"`
	Endpoint         string          `json:"endpoint"`
	Channel          string          `json:"channel"`
	Failovers        json.RawMessage `json:"failovers"`
	PromptTokens     uint64          `json:"prompt_tokens"`
	CompletionTokens uint64          `json:"completion_tokens"`
	Cost             string          `json:"cost"`
	CostTON          string          `json:"cost_ton"`
	Owed             string          `json:"owed"`
	Receipt          string          `json:"receipt"`
	ReceiptVerified  bool            `json:"receipt_verified"`
	Problem          string          `json:"problem"`
	TTFTMillis       float64         `json:"ttft_ms"`
	TotalMillis      float64         `json:"total_ms"`
	Verification     *Verification   `json:"verification"`
}

// GatewayProviders lists the providers as the gateway sees them.
func (n *Network) GatewayProviders(ctx context.Context) ([]GatewayProvider, error) {
	var res struct {
		Providers []GatewayProvider `json:"providers"`
	}
	if err := GetJSON(ctx, n.GatewayURL+"/cocoon/v1/providers", &res); err != nil {
		return nil, err
	}
	return res.Providers, nil
}

// waitGatewayVerified waits until the gateway has found and verified every provider.
func (n *Network) waitGatewayVerified(ctx context.Context, s *Step) (string, error) {
	err := waitFor(ctx, time.Minute, func() (bool, error) {
		ps, err := n.GatewayProviders(ctx)
		if err != nil {
			return false, err
		}
		byEndpoint := map[string]GatewayProvider{}
		for _, p := range ps {
			byEndpoint[p.Endpoint] = p
		}
		var waiting []string
		for _, p := range n.Providers {
			gp, ok := byEndpoint[p.Endpoint]
			switch {
			case !ok:
				waiting = append(waiting, p.Name+" not found yet")
			case !gp.Verified:
				why := "not verified yet"
				if gp.Verification != nil && len(gp.Verification.Refusals) > 0 {
					why = "refused: " + strings.Join(gp.Verification.Refusals, "; ")
				}
				waiting = append(waiting, p.Name+" "+why)
			}
		}
		s.Status("%s", joinAnd(waiting))
		return len(waiting) == 0, nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("OpenAI-compatible API on %s/v1, %d providers verified", n.GatewayURL, len(n.Providers)), nil
}

// ChatResult is one streamed chat answer through the gateway.
type ChatResult struct {
	// ID is the gateway's request id; Text the answer as streamed.
	ID   string
	Text string
	// Header is the answer's headers, Trailer its trailers (cost, receipt once the stream ended).
	Header, Trailer http.Header
	// Record is the gateway's record of it.
	Record *Record
}

// ProviderByEndpoint is the network's provider at endpoint (nil: none).
func (n *Network) ProviderByEndpoint(endpoint string) *Provider {
	for _, p := range n.Providers {
		if p.Endpoint == endpoint {
			return p
		}
	}
	return nil
}

// Chat sends one streamed chat request through the gateway, handing each piece of text to
// onText as it arrives, and reads the gateway's record of it.
func (n *Network) Chat(ctx context.Context, prompt string, maxTokens int, onText func(string)) (*ChatResult, error) {
	return n.ChatVia(ctx, "", prompt, maxTokens, onText)
}

// ChatVia is Chat answered only by the provider at endpoint ("": any), through the gateway's
// routing object (`"provider": {"only": [endpoint]}`).
func (n *Network) ChatVia(ctx context.Context, endpoint, prompt string, maxTokens int, onText func(string)) (*ChatResult, error) {
	fields := map[string]any{"model": models.DefaultModelName, "stream": true, "max_tokens": maxTokens,
		"stream_options": map[string]bool{"include_usage": true}, "messages": []map[string]string{{"role": "user", "content": prompt}}}
	if endpoint != "" {
		fields["provider"] = map[string]any{"only": []string{endpoint}}
	}
	body, _ := json.Marshal(fields)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.GatewayURL+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	res := &ChatResult{ID: resp.Header.Get("X-Request-Id"), Header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("the gateway answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var text strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	done := false
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			break
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content *string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return nil, fmt.Errorf("the stream sent %q: %w", data, err)
		}
		if chunk.Error != nil {
			return nil, fmt.Errorf("the stream broke off: %s", chunk.Error.Message)
		}
		for _, c := range chunk.Choices {
			if c.Delta.Content != nil && *c.Delta.Content != "" {
				text.WriteString(*c.Delta.Content)
				if onText != nil {
					onText(*c.Delta.Content)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("the stream broke off: %w", err)
	}
	if !done {
		return nil, fmt.Errorf("the stream ended without [DONE]")
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	res.Text, res.Trailer = text.String(), resp.Trailer
	if res.ID == "" {
		return nil, fmt.Errorf("the answer has no X-Request-Id")
	}
	// The record is written when the answer ends; read it once it is there.
	var rec Record
	if err := waitFor(ctx, 10*time.Second, func() (bool, error) {
		err := GetJSON(ctx, n.GatewayURL+"/cocoon/v1/requests/"+res.ID, &rec)
		return err == nil && rec.Receipt != "", err
	}); err != nil {
		return nil, fmt.Errorf("the gateway's record of %s: %w", res.ID, err)
	}
	res.Record = &rec
	return res, nil
}
