package attest

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"

	sevpb "github.com/google/go-sev-guest/proto/sevsnp"
	tdxpb "github.com/google/go-tdx-guest/proto/tdx"
)

// Register names, per kind, in the order the measurement hash takes them (PROTOCOL.md). Values are
// lowercase hex of the raw report bytes (the SNP policy as its 8 little-endian bytes).
var measurementRegisters = map[Kind][]struct {
	name string
	size int
}{
	KindTDX: {{"mrtd", 48}, {"rtmr0", 48}, {"rtmr1", 48}, {"rtmr2", 48}, {"mrconfigid", 48},
		{"mrowner", 48}, {"mrownerconfig", 48}, {"td_attributes", 8}, {"xfam", 8}},
	KindSNP: {{"measurement", 48}, {"host_data", 32}, {"policy", 8}},
	KindSim: {{"image", 48}},
}

// MeasurementFromRegisters computes a measurement hash from register values, e.g. those a
// reproducible image build predicts, for the registry allow-list. It needs exactly the registers the
// kind's hash covers, each of its exact size.
func MeasurementFromRegisters(k Kind, regs map[string]string) ([32]byte, error) {
	spec, ok := measurementRegisters[k]
	if !ok {
		return [32]byte{}, fmt.Errorf("%w: no measurement definition for kind %d", ErrMalformed, uint8(k))
	}
	fields := make([][]byte, 0, len(spec))
	for _, r := range spec {
		v, ok := regs[r.name]
		if !ok {
			return [32]byte{}, fmt.Errorf("%w: %s measurement needs register %q", ErrMalformed, k.Name(), r.name)
		}
		b, err := hex.DecodeString(v)
		if err != nil || len(b) != r.size {
			return [32]byte{}, fmt.Errorf("%w: register %q must be %d bytes of hex", ErrMalformed, r.name, r.size)
		}
		fields = append(fields, b)
	}
	return measurementHash(k, fields...), nil
}

func tdxRegisters(b *tdxpb.TDQuoteBody) map[string]string {
	m := map[string]string{
		"mrtd": hex.EncodeToString(b.GetMrTd()), "mrconfigid": hex.EncodeToString(b.GetMrConfigId()),
		"mrowner": hex.EncodeToString(b.GetMrOwner()), "mrownerconfig": hex.EncodeToString(b.GetMrOwnerConfig()),
		"td_attributes": hex.EncodeToString(b.GetTdAttributes()), "xfam": hex.EncodeToString(b.GetXfam()),
		"mrseam": hex.EncodeToString(b.GetMrSeam()), "tee_tcb_svn": hex.EncodeToString(b.GetTeeTcbSvn()),
	}
	for i, r := range b.GetRtmrs() {
		m[fmt.Sprintf("rtmr%d", i)] = hex.EncodeToString(r)
	}
	return m
}

func snpRegisters(r *sevpb.Report) map[string]string {
	var pol [8]byte
	binary.LittleEndian.PutUint64(pol[:], r.GetPolicy())
	return map[string]string{
		"measurement": hex.EncodeToString(r.GetMeasurement()), "host_data": hex.EncodeToString(r.GetHostData()),
		"policy": hex.EncodeToString(pol[:]), "family_id": hex.EncodeToString(r.GetFamilyId()),
		"image_id": hex.EncodeToString(r.GetImageId()), "chip_id": hex.EncodeToString(r.GetChipId()),
		"reported_tcb": fmt.Sprintf("%016x", r.GetReportedTcb()), "vmpl": fmt.Sprint(r.GetVmpl()),
	}
}
