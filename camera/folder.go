package camera

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/edged/edged/imageproc"
)

// folderCapturer shows the PNG and JPEG images of a folder in name order, one per interval.
// The folder is listed again on every pass, so images added meanwhile are picked up.
type folderCapturer struct {
	dir      string
	loop     bool
	interval time.Duration
}

func (c *folderCapturer) session(ctx context.Context, out *feed) error {
	for {
		files, err := listImages(c.dir)
		if err != nil {
			return err
		}
		shown := 0
		var lastErr error
		for i, path := range files {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			img, err := loadPicture(out.source, path)
			if err != nil {
				// One bad image does not stop the others; it is counted and logged.
				lastErr = err
				out.skipped(err)
				continue
			}
			out.deliver(&Frame{Time: time.Now(), Image: img, Index: i, Path: path}, true)
			shown++
			if !sleep(ctx, c.interval) {
				return ctx.Err()
			}
		}
		if shown == 0 {
			return fmt.Errorf("folder %s: none of its %d images could be read (last: %w)", c.dir, len(files), lastErr)
		}
		if !c.loop {
			return errEnded
		}
	}
}

// listImages returns the folder's image files sorted by name.
func listImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("open folder %s: %w", dir, err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && imageproc.IsImageName(e.Name()) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("folder %s has no images (%s)", dir, imageproc.Formats)
	}
	sort.Strings(files)
	return files, nil
}

// loadPicture decodes one image file into a pooled buffer of out.
func loadPicture(out *source, path string) (*image.RGBA, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	defer f.Close()
	img, err := decodePicture(out, f)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	return img, nil
}
