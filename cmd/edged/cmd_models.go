package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edged/edged/internal/progress"
	"github.com/edged/edged/models"
	"github.com/edged/edged/runtime/tflite"
)

func init() {
	register("models", "list the converted models in the cache; `edged models rm` removes them", runModels)
}

// modelEntry is the JSON line printed per cache entry with --json: a contract other tools
// rely on, so its field names never change.
type modelEntry struct {
	Name         string `json:"name"`
	Repo         string `json:"repo,omitempty"`
	Revision     string `json:"revision,omitempty"`
	Commit       string `json:"commit,omitempty"`
	Source       string `json:"source,omitempty"` // the checkpoint folder, for one not pulled
	Architecture string `json:"architecture"`
	Precision    string `json:"precision"`
	// Parts are its model files' precisions, and what runs each here by default (edged's
	// kernels on this CPU, XNNPACK: runtime.kernels auto, as commands and the daemon run).
	Parts       []models.Part `json:"parts,omitempty"`
	Calibration string        `json:"calibration,omitempty"`
	SizeBytes   int64         `json:"size_bytes"`
	LastUsed    string        `json:"last_used"` // RFC 3339
}

func runModels(args []string) int {
	return modelsCmd(args, os.Stdout, os.Stderr)
}

func modelsCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("models", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: edged models [--cache DIR] [--json]\n"+
			"       edged models rm [--cache DIR] NAME|REPO[@REVISION]...\n\n"+
			"Lists the bundles edged converted into its cache (for every command and the daemon),\n"+
			"most recently used first: the repository and revision each came from, precision,\n"+
			"the precision of each part (model file) and the kernels of edged's that run its int8\n"+
			"work on this CPU (the rest runs on XNNPACK), calibration, size on disk and when it\n"+
			"was last used. rm removes an entry by its name,\n"+
			"or every entry of a repository (of one revision or commit with @REVISION); the next\n"+
			"use converts it again. The Hugging Face download cache is not touched.\n\n")
		fs.PrintDefaults()
	}
	cache := fs.String("cache", "", "model cache `folder` (default $XDG_CACHE_HOME/edged)")
	asJSON := fs.Bool("json", false, "print one JSON object per entry per line")
	remove := len(args) > 0 && args[0] == "rm"
	if remove {
		args = args[1:]
	}
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return flagStatus(err)
	}
	if remove && len(names) == 0 {
		return missingArgs(fs, "rm: name the entries to remove (NAME or REPO[@REVISION], as edged models lists them)")
	}
	if !remove && len(names) > 0 {
		return missingArgs(fs, "unexpected argument %q (edged models rm NAME removes an entry)", names[0])
	}
	dir, err := cacheFolder(*cache)
	if err != nil {
		fmt.Fprintf(stderr, "edged models: %v\n", err)
		return 1
	}
	if remove {
		status := 0
		for _, n := range names {
			removed, err := models.Remove(dir, n)
			if err != nil {
				fmt.Fprintf(stderr, "edged models rm: %v\n", err)
				status = 1
			}
			for _, e := range removed {
				fmt.Fprintf(stdout, "removed %s (%s)\n", e.Name, progress.Bytes(int(e.Size)))
			}
		}
		return status
	}
	entries, err := models.List(dir)
	if err != nil {
		fmt.Fprintf(stderr, "edged models: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range entries {
			if err := enc.Encode(describeEntry(e)); err != nil {
				return 1
			}
		}
		return 0
	}
	if len(entries) == 0 {
		fmt.Fprintf(stdout, "no models in %s\n", models.BundlesDir(dir))
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREPO\tREVISION\tPRECISION\tPARTS\tCALIBRATION\tSIZE\tLAST USED")
	for _, e := range entries {
		d := describeEntry(e)
		repo, rev := d.Repo, d.Revision
		if repo == "" {
			repo = d.Source
		}
		if d.Commit != "" && d.Commit != rev {
			rev += " (" + short(d.Commit) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, orDash(repo), orDash(rev), d.Precision,
			orDash(models.PartsString(d.Parts)), orDash(d.Calibration),
			progress.Bytes(int(d.SizeBytes)), e.LastUsed.Local().Format("2006-01-02 15:04"))
	}
	tw.Flush()
	return 0
}

func describeEntry(e models.Entry) modelEntry {
	m := e.Bundle.Manifest
	d := modelEntry{Name: e.Name, Repo: m.Source.Repo, Revision: m.Source.Revision, Commit: m.Source.Commit,
		Architecture: m.Architecture, Precision: m.Precision, SizeBytes: e.Size, LastUsed: e.LastUsed.UTC().Format(time.RFC3339)}
	if d.Repo == "" {
		d.Source = m.Source.Path
	}
	// The default runtime options resolve on any CPU: no error.
	d.Parts, _ = models.Parts(m, tflite.Options{})
	if c := m.Calibration; c != nil {
		d.Calibration = fmt.Sprintf("%s, %d images, %s", c.Source, c.Images, c.Method)
		// c.Text reads "<roles> at full int8, calibrated on ...": the roles are what a row has room for.
		if roles, _, ok := strings.Cut(c.Text, " at full int8"); ok {
			d.Calibration += "; " + roles + " calibrated too"
		}
	}
	return d
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
