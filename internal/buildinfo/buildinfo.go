// Package buildinfo names the build a binary came from, for `cocoon version` and
// `cocoon-provider version`: the release, the VCS commit Go recorded, the toolchain and platform.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at link time for every binary of this module:
//
//	go build -ldflags "-X github.com/cocoon-go/cocoon/internal/buildinfo.Version=v0.1.0"
var Version = "dev"

// String is "<binary> <version> (commit <12 hex>, <go version> <os>/<arch>)"; the commit is
// "unknown" when the build recorded none (go test, go run, builds outside a repository).
func String(binary string) string {
	rev := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("%s %s (commit %s, %s %s/%s)", binary, Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
