// Command cocoon is the single binary of Cocoon-Go: devnet, provider, client, oracle, indexer and tools.
//
// Each subcommand lives in its own file and registers itself in init() with register(), so adding a
// command never touches this file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"

	"github.com/cocoon-go/cocoon/service"
)

// command is one top-level subcommand.
type command struct {
	summary string
	// run receives the arguments after the subcommand name. It returns errUsage when the
	// arguments are wrong, so main can print usage and exit 2 instead of 1.
	run func(ctx context.Context, args []string) error
}

var commands = map[string]command{}

// errUsage marks bad command-line input: exit code 2, like the flag package.
var errUsage = errors.New("usage error")

// register adds a subcommand. It panics on duplicates: two files claiming one name is a programming error.
func register(name, summary string, run func(ctx context.Context, args []string) error) {
	if _, dup := commands[name]; dup {
		panic("cocoon: command registered twice: " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: cocoon <command> [arguments]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'cocoon <command> -h' for a command's flags.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "cocoon: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	// The first SIGINT/SIGTERM cancels the command's context; the second exits at once (130),
	// saying so on stderr.
	ctx, stop := service.InterruptContext(context.Background(), interruptLog(stderr), nil)
	defer stop()
	err := cmd.run(ctx, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "cocoon %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "cocoon %s: %v\n", args[0], err)
		return 1
	}
}

// interruptLog reports only the second interrupt (the first cancels the command, which says why).
func interruptLog(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
}
