// Command edged runs vision-language models on edge devices and publishes what they see over MQTT.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/edged/edged/internal/exitcode"
)

// Set by the Makefile's -ldflags.
var (
	version = "dev"
	commit  = "unknown"
)

// command is one subcommand. Each lives in its own cmd_<name>.go file and registers itself.
type command struct {
	summary string
	run     func(args []string) int // returns the process exit status
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) int) {
	commands[name] = command{summary: summary, run: run}
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: edged <command> [flags]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'edged <command> -h' for the flags of a command.\n")
}

// main exits with 0 on success, 1 on a failure at run time (a panic included, never 2) and 2
// for a bad command line or config: the service restarts edged on everything but 2.
func main() { exitcode.Main(dispatch) }

func dispatch() int {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") && os.Args[1] != "-h" && os.Args[1] != "--help" {
		usage()
		return exitcode.Usage
	}
	name := os.Args[1]
	if name == "help" && len(os.Args) == 3 {
		if cmd, ok := commands[os.Args[2]]; ok {
			return cmd.run([]string{"-h"})
		}
	}
	if name == "-h" || name == "--help" || name == "help" {
		usage()
		return exitcode.OK
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "edged: unknown command %q\n\n", name)
		usage()
		return exitcode.Usage
	}
	return cmd.run(os.Args[2:])
}

// flagStatus is the exit status of a command whose flags did not parse: 0 for -h and --help
// (the flag set has printed the command's usage), 2 for a bad flag (it has said which).
func flagStatus(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitcode.OK
	}
	return exitcode.Usage
}

// missingArgs says what a command line lacks, then the command's usage: exit status 2.
func missingArgs(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(fs.Output(), "edged %s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return exitcode.Usage
}
