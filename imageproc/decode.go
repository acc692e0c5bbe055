package imageproc

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // the formats DecodeFile reads (Formats)
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"
	"path/filepath"
	"strings"

	_ "golang.org/x/image/bmp" // OpenCV writes and reads BMP: a frame saved by one is read here
)

// Formats says which image files DecodeFile reads, for messages and usage texts.
const Formats = "PNG, JPEG, GIF (its first frame) and BMP"

// IsImageName says whether a file name ends as the image files DecodeFile reads do (in any
// case): what a folder of images is read for.
func IsImageName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg", ".gif", ".bmp":
		return true
	}
	return false
}

// DecodeFile reads a PNG, JPEG, GIF (its first frame) or BMP file into an image for Process.
// The header is read first: an image of more than DefaultMaxPixels pixels is refused before
// its pixels are (a 20000×20000 PNG would take 1.6 GB to decode). A file that ends before its
// image data does is an error that says it is truncated. Every error names the file.
func DecodeFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s is a folder, not an image file", path)
	}
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
	if errors.Is(err, image.ErrFormat) {
		return fmt.Errorf("%s: not an image file edged reads (%s): %w", path, Formats, err)
	}
	return fmt.Errorf("%s: cannot decode the image: %w", path, err)
}
