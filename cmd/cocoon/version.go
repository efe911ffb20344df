package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/cocoon-go/cocoon/internal/buildinfo"
)

func init() {
	register("version", "print the version of this binary", runVersion)
}

func runVersion(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: version takes no arguments", errUsage)
	}
	fmt.Fprintln(os.Stdout, versionString())
	return nil
}

func versionString() string { return buildinfo.String("cocoon") }
