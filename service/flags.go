package service

import (
	"flag"
	"fmt"
	"sort"
	"strings"
)

// EnvName is the environment variable for a flag of a daemon: the daemon's prefix, "_", and
// the flag's name in upper case with '-' and '.' as '_'. EnvName("COCOON_PROVIDER",
// "metrics-listen") is COCOON_PROVIDER_METRICS_LISTEN.
func EnvName(prefix, flagName string) string {
	return prefix + "_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
}

// ParseFlags parses args into fs, then sets every flag that args did not set from its
// environment variable (EnvName(prefix, name)) when lookupEnv finds one: flags win over the
// environment, the environment over defaults. Before parsing, each flag's help text gets its
// variable's name appended, so -h shows it. lookupEnv is os.LookupEnv outside tests.
//
// A bad value in the environment is an error naming the variable and the flag. Parse errors
// (flag.ErrHelp included) are returned as fs.Parse returns them.
func ParseFlags(fs *flag.FlagSet, args []string, prefix string, lookupEnv func(string) (string, bool)) error {
	fs.VisitAll(func(f *flag.Flag) {
		tag := "($" + EnvName(prefix, f.Name) + ")"
		if !strings.HasSuffix(f.Usage, tag) {
			f.Usage += " " + tag
		}
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		name := EnvName(prefix, f.Name)
		v, ok := lookupEnv(name)
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("invalid value %q for $%s (flag --%s): %v", v, name, f.Name, e)
		}
	})
	return err
}

// UnknownEnv lists the variables in environ (os.Environ's "NAME=value" form) that carry the
// daemon's prefix but match none of fs's flags: usually a typo that would otherwise be
// ignored in silence. Daemons log them as a warning.
func UnknownEnv(fs *flag.FlagSet, prefix string, environ []string) []string {
	known := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { known[EnvName(prefix, f.Name)] = true })
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, prefix+"_") && !known[name] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
