//go:build !nvml

package attest

import "fmt"

// NewNVMLAttester needs a build with -tags nvml (cgo and the NVIDIA driver's NVML).
func NewNVMLAttester() (GPUAttester, error) {
	return nil, fmt.Errorf("%w: this binary was built without NVML support (build with -tags nvml)", ErrNoTEE)
}
