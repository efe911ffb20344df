package attest

import (
	"bytes"
	"context"
	"crypto/sha512"
	"errors"
	"fmt"
)

// SimReport layout: 32-byte magic, 48-byte image measurement, 64-byte report data; nothing else, so
// every byte is checked by verification. It is unsigned on purpose: it proves nothing, and no
// signature could make it prove anything.
const (
	simMagic      = "COCOON-SIMULATED-TEE/NOT-SECURE\x00"
	simReportSize = 32 + 48 + 64
)

// SimAttester produces simulated evidence for the devnet. It exists only when a caller constructs it
// explicitly (NewSimAttester); DetectAttester never returns it.
type SimAttester struct {
	// Image stands in for a launch measurement: the devnet registry allow-lists SimMeasurement(Image).
	Image [48]byte
}

// NewSimAttester returns a simulated attester for the given image measurement. Devnet only.
func NewSimAttester(image [48]byte) *SimAttester { return &SimAttester{Image: image} }

func (*SimAttester) Kind() Kind { return KindSim }

// Attest builds a SimReport binding reportData.
func (a *SimAttester) Attest(ctx context.Context, reportData [64]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, simReportSize)
	b = append(b, simMagic...)
	b = append(b, a.Image[:]...)
	b = append(b, reportData[:]...)
	return b, nil
}

// SimMeasurement is the measurement hash of kind sim: measurementHash over the 48-byte image.
func SimMeasurement(image [48]byte) [32]byte { return measurementHash(KindSim, image[:]) }

// DevnetSimImage is the image value every devnet component uses by default, so a devnet registry
// allow-lists one sim measurement: SHA-384 of "cocoon/v1/devnet-sim-image".
var DevnetSimImage = sha512.Sum384([]byte("cocoon/v1/devnet-sim-image"))

// parseSimReport returns the image and report data of a SimReport.
func parseSimReport(b []byte) (image [48]byte, reportData [64]byte, err error) {
	if len(b) != simReportSize {
		return image, reportData, fmt.Errorf("%w: simulated report is %d bytes, want %d", ErrMalformed, len(b), simReportSize)
	}
	if !bytes.Equal(b[:32], []byte(simMagic)) {
		return image, reportData, fmt.Errorf("%w: simulated report has a bad magic", ErrMalformed)
	}
	copy(image[:], b[32:80])
	copy(reportData[:], b[80:])
	return image, reportData, nil
}

// DetectAttester returns the hardware attester of this machine: TDX, else SEV-SNP. With neither it
// returns ErrNoTEE; it never falls back to the simulated kind.
func DetectAttester() (Attester, error) {
	t, terr := NewTDXAttester()
	if terr == nil {
		return t, nil
	}
	s, serr := NewSNPAttester()
	if serr == nil {
		return s, nil
	}
	return nil, errors.Join(terr, serr)
}
