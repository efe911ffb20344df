package buildinfo

import (
	"regexp"
	"testing"
)

func TestString(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = "v1.2.3"
	re := regexp.MustCompile(`^cocoon-provider v1\.2\.3 \(commit ([0-9a-f]{12}|unknown), go\S+ \w+/\w+\)$`)
	if s := String("cocoon-provider"); !re.MatchString(s) {
		t.Fatalf("String() = %q", s)
	}
}
