package imageproc

import (
	"fmt"
	"image"
	_ "image/gif" // the formats DecodeFile reads
	_ "image/jpeg"
	_ "image/png"
	"os"
)

// DecodeFile reads a PNG, JPEG or GIF file (a GIF's first frame) into an image for Process.
// An error names the file.
func DecodeFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot decode the image: %w", path, err)
	}
	return img, nil
}
