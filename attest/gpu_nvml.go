//go:build nvml

package attest

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"fmt"

	"github.com/confidentsecurity/go-nvtrust/pkg/gonvtrust/certs"
	"github.com/confidentsecurity/go-nvtrust/pkg/gonvtrust/gpu"
)

// nvmlAttester collects H100/H200 reports through NVML (go-nvtrust). Built only with -tags nvml:
// NVML is a C library loaded at run time, so this needs cgo and the NVIDIA driver.
type nvmlAttester struct {
	admin *gpu.NvmlGPUAdmin
}

// NewNVMLAttester initializes NVML. It fails unless the GPUs are in confidential-computing mode.
func NewNVMLAttester() (GPUAttester, error) {
	admin, err := gpu.NewNvmlGPUAdmin(nil)
	if err != nil {
		return nil, fmt.Errorf("%w: NVML: %v", ErrNoTEE, err)
	}
	on, err := admin.IsConfidentialComputeEnabled()
	if err != nil {
		return nil, fmt.Errorf("failed to read GPU confidential-computing state: %w", err)
	}
	if !on {
		return nil, fmt.Errorf("%w: GPU confidential computing is off", ErrNoTEE)
	}
	return &nvmlAttester{admin: admin}, nil
}

// AttestGPUs asks every GPU for a signed SPDM measurement report over nonce.
func (a *nvmlAttester) AttestGPUs(ctx context.Context, nonce [32]byte) ([]GPUEvidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	devs, err := a.admin.CollectEvidence(nonce[:])
	if err != nil {
		return nil, fmt.Errorf("failed to collect GPU evidence: %w", err)
	}
	out := make([]GPUEvidence, 0, len(devs))
	for i, d := range devs {
		chain, err := pemChainDER(d.Certificate())
		if err != nil {
			return nil, fmt.Errorf("GPU %d: %w", i, err)
		}
		out = append(out, GPUEvidence{Report: d.AttestationReport(), CertChain: chain})
	}
	return out, nil
}

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
