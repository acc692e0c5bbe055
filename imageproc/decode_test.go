package imageproc

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pngChunk is one PNG chunk: length, type, data, CRC.
func pngChunk(kind string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(kind)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(kind), data...)))
	return b.Bytes()
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Files that end early are reported as truncated; an image too large to process is refused
// from its header, before its pixels are decoded; whole files decode.
func TestDecodeFile(t *testing.T) {
	png, err := os.ReadFile("testdata/image_200x300.png")
	if err != nil {
		t.Fatal(err)
	}
	img, err := DecodeFile(writeFile(t, "whole.png", png))
	if err != nil || img.Bounds().Dx() != 200 || img.Bounds().Dy() != 300 {
		t.Fatalf("whole PNG: %v, %v", img, err)
	}
	var jpg bytes.Buffer
	src := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 7)
	}
	src.Set(3, 3, color.White)
	if err := jpeg.Encode(&jpg, src, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"png.png", png[:len(png)-12], "png.png: the png file is truncated"},
		{"half.png", png[:len(png)/2], "half.png: the png file is truncated"},
		{"header.png", png[:20], "header.png: the image file is truncated"},
		{"half.jpg", jpg.Bytes()[:jpg.Len()/2], "half.jpg: the jpeg file is truncated"},
		{"text.png", []byte("not an image"), "text.png: not an image file edged reads (PNG, JPEG, GIF (its first frame) and BMP): image: unknown format"},
	} {
		_, err := DecodeFile(writeFile(t, c.name, c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}

	// 20000×20000 pixels in a file of a few hundred bytes: refused from the header alone.
	var ihdr bytes.Buffer
	binary.Write(&ihdr, binary.BigEndian, []uint32{20000, 20000})
	ihdr.Write([]byte{8, 2, 0, 0, 0})
	huge := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr.Bytes())...)
	huge = append(huge, pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	_, err = DecodeFile(writeFile(t, "huge.png", huge))
	if want := "huge.png: the png image is 20000x20000 = 400000000 pixels, over the limit of 50000000"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("huge PNG: %v, want %q", err, want)
	}
	if _, err := DecodeFile(filepath.Join(t.TempDir(), "missing.png")); err == nil || !strings.Contains(err.Error(), "missing.png") {
		t.Errorf("missing file: %v", err)
	}
	for name, want := range map[string]bool{"a.png": true, "B.JPG": true, "c.jpeg": true, "d.gif": true, "e.bmp": true, "f.webp": false, "g.png.txt": false, "png": false} {
		if IsImageName(name) != want {
			t.Errorf("IsImageName(%q) = %v", name, !want)
		}
	}
	dir := t.TempDir()
	if _, err := DecodeFile(dir); err == nil || err.Error() != dir+" is a folder, not an image file" {
		t.Errorf("a folder: %v", err)
	}
}
