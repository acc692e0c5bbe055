package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"strings"

	"github.com/edged/edged/blip"
	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/runtime/tflite"
)

// blipCommand is one of the BLIP commands (caption, ask, match). They share their flags, the
// opening of the model and the loop over the images, and differ in the model class they need,
// their text flag and what they do with each image.
type blipCommand struct {
	name, usage string
	arch        string // the model class the command needs (blip.Arch...)
	generates   bool   // it generates text, so it takes --beams and --max-tokens
	text        textFlag
	// flags, when set, defines the command's own flags; setup, when set, runs once the flags
	// are checked, before the model opens (a usage error there exits 2, others 1), and the
	// cleanup it returns when the command ends.
	flags func(fs *flag.FlagSet)
	setup func(f *blipFlags) (cleanup func(), err error)
	// do runs the command on one encoded image with the text flag's value, returning the
	// image's JSON object and its text line.
	do func(s *blip.Session, o blip.GenerateOptions, text string, img picture) (result any, line string, err error)
}

// picture is one image of a command: its path, the decoded image and its encoding by the
// command's model.
type picture struct {
	path string
	img  image.Image
	im   *blip.Image
}

// usageError is a setup error in how the command was called (exit status 2).
type usageError struct{ error }

// textFlag is a BLIP command's own text flag (--prompt, --question, --text).
type textFlag struct {
	name, usage string
	required    bool // a blank value is a usage error
}

// main parses args (flags may stand between the images), checks them, and runs the command on
// each image. Its exit status is 2 for a usage error, 1 if any image failed, 0 otherwise.
func (c *blipCommand) main(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(c.name, stderr, c.usage)
	f := addBlipFlags(fs, c.generates)
	text := fs.String(c.text.name, "", c.text.usage)
	if c.flags != nil {
		c.flags(fs)
	}
	images, err := parseInterspersed(fs, args)
	if err != nil {
		return flagStatus(err)
	}
	if f.model == "" {
		return missingArgs(fs, "no model: give a BLIP bundle, checkpoint folder or repository id with --model")
	}
	if len(images) == 0 {
		return missingArgs(fs, "no image: give one or more image files (%s)", imageproc.Formats)
	}
	if c.text.required && strings.TrimSpace(*text) == "" {
		fmt.Fprintf(stderr, "edged %s: empty %s: give one with --%s TEXT\n", c.name, c.text.name, c.text.name)
		return 2
	}
	if c.setup != nil {
		cleanup, err := c.setup(f)
		if err != nil {
			fmt.Fprintf(stderr, "edged %s: %v\n", c.name, err)
			if errors.As(err, new(usageError)) {
				return 2
			}
			return 1
		}
		defer cleanup()
	}
	return f.run(c.name, c.arch, images, stdout, stderr, func(s *blip.Session, o blip.GenerateOptions, p picture) (any, string, error) {
		return c.do(s, o, *text, p)
	})
}

// newFlagSet is a flag set writing to stderr with a usage text before the flags.
func newFlagSet(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

// blipFlags are the flags the BLIP commands (caption, ask, match) share.
type blipFlags struct {
	model, cache, precision, delegate string
	beams, maxTokens, threads         int
	asJSON                            bool
}

// addBlipFlags defines the shared flags on fs; --beams and --max-tokens only for a command
// that generates text.
func addBlipFlags(fs *flag.FlagSet, generates bool) *blipFlags {
	f := &blipFlags{}
	fs.StringVar(&f.model, "model", "", "BLIP bundle or checkpoint `folder`")
	if generates {
		fs.IntVar(&f.beams, "beams", 0, "beam search width (default: the checkpoint's num_beams, 1 = greedy)")
		fs.IntVar(&f.maxTokens, "max-tokens", 0, "most tokens to generate (default: the checkpoint's max_new_tokens or max_length)")
	}
	fs.BoolVar(&f.asJSON, "json", false, "print one JSON object per image per line")
	fs.StringVar(&f.cache, "cache", "", "model cache `folder` (default $XDG_CACHE_HOME/edged)")
	fs.StringVar(&f.precision, "precision", "", "precision to convert a checkpoint to (default: BLIP's default)")
	fs.IntVar(&f.threads, "threads", 0, "interpreter threads (0: one per CPU)")
	fs.StringVar(&f.delegate, "delegate", "xnnpack", "xnnpack or none")
	return f
}

// generateOptions are the checkpoint's generation defaults with the flags applied.
func (f *blipFlags) generateOptions(m *blip.Model) (blip.GenerateOptions, error) {
	o := m.GenerateDefaults()
	if f.beams < 0 || f.maxTokens < 0 {
		return o, fmt.Errorf("--beams %d and --max-tokens %d must not be negative", f.beams, f.maxTokens)
	}
	if f.beams > 0 {
		o.NumBeams = f.beams
	}
	if f.maxTokens > 0 {
		o.MaxNewTokens = f.maxTokens
	}
	return o, nil
}

// run opens the model (converting a checkpoint on first use), then encodes each image and
// calls do for it, printing its JSON object or its text line. A failed image is reported and
// the others still run; the exit status is 1 if any failed.
func (f *blipFlags) run(cmd, arch string, images []string, stdout, stderr io.Writer,
	do func(s *blip.Session, o blip.GenerateOptions, p picture) (result any, line string, err error)) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "edged %s: %v\n", cmd, err)
		return 1
	}
	del, err := tflite.ParseDelegateKind(f.delegate)
	if err != nil {
		return fail(err)
	}
	if err := checkFolderArchitecture(f.model, cmd, arch); err != nil {
		return fail(err)
	}
	m, err := f.openBLIP(f.model, del, stderr)
	if err != nil {
		return fail(err)
	}
	if err := architectureError(f.model, m.Architecture, cmd, arch); err != nil {
		m.Close()
		return fail(err)
	}
	defer m.Close()
	o, err := f.generateOptions(m)
	if err != nil {
		return fail(err)
	}
	s, err := m.NewSession()
	if err != nil {
		return fail(err)
	}
	defer s.Close()
	status := 0
	enc := json.NewEncoder(stdout)
	for _, path := range images {
		err := func() error {
			img, err := imageproc.DecodeFile(path)
			if err != nil {
				return err
			}
			im, err := s.EncodeImage(img)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			res, line, err := do(s, o, picture{path, img, im})
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if f.asJSON {
				return enc.Encode(res)
			}
			_, err = fmt.Fprintln(stdout, line)
			return err
		}()
		if err != nil {
			fmt.Fprintf(stderr, "edged %s: %v\n", cmd, err)
			status = 1 // the other images are still worth their answer
		}
	}
	return status
}

// openBLIP opens the BLIP model name (a bundle, a checkpoint folder or a repository id,
// pulled and converted on first use into the cache) with the command's precision and
// interpreter flags.
func (f *blipFlags) openBLIP(name string, del tflite.DelegateKind, stderr io.Writer) (*blip.Model, error) {
	b, err := openModel(name, f.cache, f.precision, stderr)
	if err != nil {
		return nil, err
	}
	return blip.Load(b, blip.Options{Runtime: tflite.Options{Threads: f.threads, Delegate: del}})
}
