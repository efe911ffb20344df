//go:build nvml

package attest

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"

	"github.com/confidentsecurity/go-nvtrust/pkg/gonvtrust/certs"
)

// pemChainDER turns go-nvtrust's chain (exposed only as base64 of concatenated PEM) into DER.
func pemChainDER(c *certs.CertChain) ([][]byte, error) {
	b64, err := c.EncodeBase64()
	if err != nil {
		return nil, fmt.Errorf("failed to encode GPU certificate chain: %w", err)
	}
	rest, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("failed to decode GPU certificate chain: %w", err)
	}
	var out [][]byte
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		out = append(out, blk.Bytes)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("GPU certificate chain is empty")
	}
	return out, nil
}
