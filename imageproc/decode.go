package imageproc

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // the formats DecodeFile reads
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"
	"strings"
)

// DecodeFile reads a PNG, JPEG or GIF file (a GIF's first frame) into an image for Process.
// The header is read first: an image of more than DefaultMaxPixels pixels is refused before
// its pixels are (a 20000×20000 PNG would take 1.6 GB to decode). A file that ends before its
// image data does is an error that says it is truncated. Every error names the file.
func DecodeFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(bufio.NewReader(f))
	if err != nil {
		return nil, decodeError(path, "", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%s: the %s image is %dx%d pixels", path, format, cfg.Width, cfg.Height)
	}
	if n := int64(cfg.Width) * int64(cfg.Height); n > DefaultMaxPixels {
		return nil, fmt.Errorf("%s: the %s image is %dx%d = %d pixels, over the limit of %d; make it smaller first", path, format, cfg.Width, cfg.Height, n, DefaultMaxPixels)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	img, _, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		return nil, decodeError(path, format, err)
	}
	return img, nil
}

// decodeError says what went wrong decoding path; a file that ends early is called truncated
// (the decoders say "unexpected EOF", or what was short: PNG's pixel data, JPEG's Huffman data).
func decodeError(path, format string, err error) error {
	msg := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(msg, "not enough pixel data") || strings.Contains(msg, "short Huffman data") {
		if format == "" {
			format = "image"
		}
		return fmt.Errorf("%s: the %s file is truncated: %w", path, format, err)
	}
	return fmt.Errorf("%s: cannot decode the image: %w", path, err)
}
