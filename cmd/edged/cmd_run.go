package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/edged/edged/internal/daemon"
)

func init() {
	register("run", "run the daemon: cameras → CLIP and BLIP → MQTT", runDaemon)
}

// runDaemon is `edged run -c FILE`. Exit status: 0 after a clean shutdown (SIGTERM or
// SIGINT), 1 when something cannot start, 2 for a bad command line or config (nothing has
// been started then).
func runDaemon(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	cfgPath := fs.String("c", "configs/edged.yaml", "the config `file` (see README.md, Configuration)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: edged run [-c FILE]\n\n"+
			"Runs the daemon until SIGTERM or SIGINT; SIGHUP reloads label sets and standing questions.\n"+
			"With the config's http address set, it serves the live page at / (frames, labels, captions,\n"+
			"answers, an ask box, text search over recent frames, health), /metrics and /healthz.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagStatus(err)
	}
	if fs.NArg() > 0 {
		return missingArgs(fs, "unexpected argument %q (the config is given as -c FILE)", fs.Arg(0))
	}

	d, err := daemon.New(*cfgPath, daemon.Options{Stdout: os.Stdout, Version: version})
	if err != nil {
		fmt.Fprintf(os.Stderr, "edged: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second SIGINT while draining kills at once
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			d.Reload()
		}
	}()

	if err := d.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "edged: %v\n", err)
		return 1
	}
	return 0
}
