package imageproc

import (
	"errors"
	"fmt"
	"image"
	"sync"
)

// DefaultMaxPixels is the largest input (width × height) a Processor accepts unless told
// otherwise: 50 megapixels, far above any camera frame, well below what exhausts a Pi.
const DefaultMaxPixels = 50_000_000

// Backend is the transformers image-processor backend whose arithmetic a Processor
// reproduces. Both resize like Pillow (antialiased, horizontal pass first, rounding to uint8
// after each pass); they differ in the weights' fixed-point precision, in how an odd
// padding splits, and by a rounding step in rescale and normalise, so their outputs differ
// by at most one 8-bit level on a small fraction of pixels.
type Backend int

const (
	// Torchvision is what CLIPImageProcessor and BlipImageProcessor are in transformers 5
	// when torchvision is installed (the reference data was made so, and matches bit for
	// bit): PyTorch's uint8 antialiased resize (a Pillow-SIMD port with int16 weights),
	// rescale and normalise fused into (x - 255·mean) / (255·std) in float32. It offers
	// bilinear and bicubic; lanczos falls back to bicubic, as transformers does.
	Torchvision Backend = iota
	// PIL is the PIL backend (CLIPImageProcessorPil, and the only one in transformers 4):
	// Pillow's Image.resize (int32 weights with 22 fractional bits), NumPy's rescale in
	// float64 stored as float32, then normalise in float32.
	PIL
)

func (b Backend) String() string {
	switch b {
	case Torchvision:
		return "torchvision"
	case PIL:
		return "pil"
	}
	return fmt.Sprintf("Backend(%d)", int(b))
}

// Options tune a Processor beyond what preprocessor_config.json says.
type Options struct {
	// Backend is the arithmetic to reproduce; the zero value is Torchvision.
	Backend Backend
	// MaxPixels bounds width × height of an input; 0 means DefaultMaxPixels.
	MaxPixels int
}

// Processor preprocesses images for one model. It is safe for concurrent use; its scratch
// memory is pooled, so a steady stream of same-size frames does not allocate.
type Processor struct {
	cfg       Config
	backend   Backend
	maxPixels int
	filter    filter
	// lut maps a byte of each channel to its rescaled, normalised value, computed once with
	// the same float arithmetic as transformers (so a table lookup is exact).
	lut     [3][256]float32
	scratch sync.Pool // *resampler plus buffers
}

type scratch struct {
	resampler
	converted []byte // input converted to RGB when it has no direct view
	resized   []byte // the resized window
}

// New returns a Processor for cfg.
func New(cfg Config, opts Options) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.MaxPixels < 0 {
		return nil, fmt.Errorf("imageproc: MaxPixels %d is negative", opts.MaxPixels)
	}
	p := &Processor{cfg: cfg, backend: opts.Backend, maxPixels: opts.MaxPixels}
	if p.maxPixels == 0 {
		p.maxPixels = DefaultMaxPixels
	}
	var normalize func(Config, int, uint8) float32
	switch opts.Backend {
	case Torchvision:
		normalize = torchvisionNormalize
		resample := cfg.Resample
		if resample == Lanczos { // transformers warns and uses bicubic
			resample = Bicubic
		}
		f, ok := torchFilters[resample]
		if cfg.DoResize && !ok {
			return nil, fmt.Errorf("imageproc: resample %v is not available in the torchvision backend (bilinear, bicubic and lanczos are); use the PIL backend", cfg.Resample)
		}
		p.filter = f
	case PIL:
		normalize = pilNormalize
		p.filter = pillowFilters[cfg.Resample]
	default:
		return nil, fmt.Errorf("imageproc: unknown backend %v", opts.Backend)
	}
	p.scratch.New = func() any { return new(scratch) }
	for c := range 3 {
		for v := range 256 {
			p.lut[c][v] = normalize(cfg, c, uint8(v))
		}
	}
	return p, nil
}

// pilNormalize is the PIL backend's rescale then normalize of one value: rescale multiplies
// in float64 and stores float32; normalize subtracts and divides in float32.
func pilNormalize(cfg Config, channel int, v uint8) float32 {
	x := float32(v)
	if cfg.DoRescale {
		x = float32(float64(v) * cfg.RescaleFactor)
	}
	if cfg.DoNormalize {
		x = (x - float32(cfg.ImageMean[channel])) / float32(cfg.ImageStd[channel])
	}
	return x
}

// torchvisionNormalize is the torchvision backend's: with both steps on, the mean and std
// are scaled by 1/rescale_factor (in float32) and applied to the raw value in one step.
func torchvisionNormalize(cfg Config, channel int, v uint8) float32 {
	x := float32(v)
	mean, std := float32(cfg.ImageMean[channel]), float32(cfg.ImageStd[channel])
	switch {
	case cfg.DoRescale && cfg.DoNormalize:
		inverse := float32(1 / cfg.RescaleFactor)
		// The conversion keeps the compiler from fusing the product into the subtraction.
		return (x - float32(mean*inverse)) / (std * inverse)
	case cfg.DoNormalize:
		return (x - mean) / std
	case cfg.DoRescale:
		return x * float32(cfg.RescaleFactor)
	}
	return x
}

// Config returns the configuration p was made with.
func (p *Processor) Config() Config { return p.cfg }

// geometry is where the output comes from for one input size.
type geometry struct {
	resizedW, resizedH int // after the resize (the input size when there is none)
	outW, outH         int // after the crop
	offX, offY         int // output (0, 0) is resized (offX, offY); may be negative (padding)
}

func (p *Processor) geometry(width, height int) geometry {
	g := geometry{resizedW: width, resizedH: height}
	if p.cfg.DoResize {
		g.resizedH, g.resizedW = resizeOutputSize(p.cfg.Size, height, width)
	}
	g.outW, g.outH = g.resizedW, g.resizedH
	if p.cfg.DoCenterCrop {
		g.outW, g.outH = p.cfg.CropSize.Width, p.cfg.CropSize.Height
		if p.backend == PIL {
			// NumPy center_crop: top = (h - crop_h) // 2 (floor); a smaller image is
			// padded with zeros by ceil((crop_h - h) / 2) first, which lands on the
			// same offset.
			g.offX = floorDiv(g.resizedW-g.outW, 2)
			g.offY = floorDiv(g.resizedH-g.outH, 2)
		} else {
			// torchvision: int((h - crop_h) / 2.0), and a smaller image is padded by
			// (crop_h - h) // 2 before: the offset rounds toward zero either way.
			g.offX = (g.resizedW - g.outW) / 2
			g.offY = (g.resizedH - g.outH) / 2
		}
	}
	return g
}

// resizeOutputSize is transformers' get_resize_output_image_size with
// default_to_square=False for a shortest edge (the long side is int(size * long / short),
// truncated), or the fixed height and width.
func resizeOutputSize(s Size, height, width int) (int, int) {
	if s.ShortestEdge == 0 {
		return s.Height, s.Width
	}
	short, long := height, width
	if width <= height {
		short, long = width, height
	}
	newShort := s.ShortestEdge
	newLong := int(float64(newShort*long) / float64(short))
	if width <= height {
		return newLong, newShort
	}
	return newShort, newLong
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// OutputSize is the height and width of the tensor p makes of a width × height input: the
// crop size, the fixed resize size, or (shortest-edge resize without crop) the resized size.
func (p *Processor) OutputSize(width, height int) (outHeight, outWidth int, err error) {
	if err := p.checkSize(width, height); err != nil {
		return 0, 0, err
	}
	g := p.geometry(width, height)
	return g.outH, g.outW, nil
}

func (p *Processor) checkSize(width, height int) error {
	if width <= 0 || height <= 0 {
		return fmt.Errorf("imageproc: image is %dx%d: empty", width, height)
	}
	if int64(width)*int64(height) > int64(p.maxPixels) {
		return fmt.Errorf("imageproc: image is %dx%d = %d pixels, over the limit of %d", width, height, int64(width)*int64(height), p.maxPixels)
	}
	return nil
}

// PixelFormat is the byte layout of a packed frame.
type PixelFormat int

// Packed layouts: 3 bytes per pixel (RGB, or BGR as OpenCV's Mat), or 4 with an ignored
// fourth byte.
const (
	RGB PixelFormat = iota
	BGR
	RGBA
	BGRA
)

func (f PixelFormat) String() string {
	switch f {
	case RGB:
		return "RGB"
	case BGR:
		return "BGR"
	case RGBA:
		return "RGBA"
	case BGRA:
		return "BGRA"
	}
	return fmt.Sprintf("PixelFormat(%d)", int(f))
}

// Frame is a packed 8-bit frame, such as the data of an OpenCV Mat of type CV_8UC3 (BGR).
// Row y starts at Pix[y*Stride].
type Frame struct {
	Pix           []byte
	Width, Height int
	Stride        int // bytes per row; 0 means tightly packed
	Format        PixelFormat
}

func (f Frame) view() (view, error) {
	var step int
	var off [3]int
	switch f.Format {
	case RGB:
		step, off = 3, [3]int{0, 1, 2}
	case BGR:
		step, off = 3, [3]int{2, 1, 0}
	case RGBA:
		step, off = 4, [3]int{0, 1, 2}
	case BGRA:
		step, off = 4, [3]int{2, 1, 0}
	default:
		return view{}, fmt.Errorf("imageproc: frame: unknown pixel format %v", f.Format)
	}
	stride := f.Stride
	if stride == 0 {
		stride = f.Width * step
	}
	if stride < f.Width*step {
		return view{}, fmt.Errorf("imageproc: frame: stride %d is less than width %d × %d bytes", stride, f.Width, step)
	}
	if need := (f.Height-1)*stride + f.Width*step; len(f.Pix) < need {
		return view{}, fmt.Errorf("imageproc: frame: %dx%d %v with stride %d needs %d bytes, got %d", f.Width, f.Height, f.Format, stride, need, len(f.Pix))
	}
	return view{pix: f.Pix, width: f.Width, height: f.Height, stride: stride, step: step, off: off}, nil
}

// ProcessFrame preprocesses a packed frame into dst, which must hold exactly
// 1 × H × W × 3 float32 (see OutputSize), or be nil to allocate. It returns the filled slice.
func (p *Processor) ProcessFrame(f Frame, dst []float32) ([]float32, error) {
	if err := p.checkSize(f.Width, f.Height); err != nil {
		return nil, err
	}
	v, err := f.view()
	if err != nil {
		return nil, err
	}
	s := p.scratch.Get().(*scratch)
	defer p.scratch.Put(s)
	return p.run(v, s, dst)
}

// Process preprocesses img into dst, which must hold exactly 1 × H × W × 3 float32 (see
// OutputSize), or be nil to allocate. It returns the filled slice. Colours are taken as
// PIL's convert("RGB") takes them: alpha is dropped (not composited), grey is replicated.
// *image.RGBA, *image.NRGBA, *image.Gray and *image.YCbCr are read without a generic
// per-pixel conversion; opaque *image.RGBA and *image.NRGBA without any copy.
func (p *Processor) Process(img image.Image, dst []float32) ([]float32, error) {
	if img == nil {
		return nil, errors.New("imageproc: image is nil")
	}
	b := img.Bounds()
	if err := p.checkSize(b.Dx(), b.Dy()); err != nil {
		return nil, err
	}
	s := p.scratch.Get().(*scratch)
	defer p.scratch.Put(s)
	v := imageView(img, &s.converted)
	return p.run(v, s, dst)
}

// run resizes, crops, rescales and normalises the pixels of v into dst.
func (p *Processor) run(v view, s *scratch, dst []float32) ([]float32, error) {
	g := p.geometry(v.width, v.height)
	n := g.outH * g.outW * 3
	if dst == nil {
		dst = make([]float32, n)
	} else if len(dst) != n {
		return nil, fmt.Errorf("imageproc: output buffer holds %d float32, want 1×%d×%d×3 = %d", len(dst), g.outH, g.outW, n)
	}

	// The part of the resized image that the crop keeps; the rest of the output is padding.
	win := window{
		x0: max(g.offX, 0), y0: max(g.offY, 0),
		x1: min(g.offX+g.outW, g.resizedW), y1: min(g.offY+g.outH, g.resizedH),
	}
	src := v
	if win.dx() > 0 && win.dy() > 0 {
		if p.cfg.DoResize {
			s.resized = resize(s.resized, win.dx()*win.dy()*3)
			s.resampler.resizeWindow(v, g.resizedW, g.resizedH, win, p.filter, s.resized)
			src = packed(s.resized, win.dx(), win.dy(), v.off)
		}
	}

	pad := [3]float32{p.lut[0][0], p.lut[1][0], p.lut[2][0]}
	for y := 0; y < g.outH; y++ {
		ry := y + g.offY // row in the resized image
		out := dst[y*g.outW*3 : (y+1)*g.outW*3]
		if ry < win.y0 || ry >= win.y1 {
			fill(out, pad)
			continue
		}
		for x := 0; x < g.outW; x++ {
			rx := x + g.offX
			o := out[x*3 : x*3+3]
			if rx < win.x0 || rx >= win.x1 {
				o[0], o[1], o[2] = pad[0], pad[1], pad[2]
				continue
			}
			sx, sy := rx, ry
			if p.cfg.DoResize { // the resized buffer holds only the window
				sx, sy = rx-win.x0, ry-win.y0
			}
			q := sy*src.stride + sx*src.step
			o[0] = p.lut[0][src.pix[q+src.off[0]]]
			o[1] = p.lut[1][src.pix[q+src.off[1]]]
			o[2] = p.lut[2][src.pix[q+src.off[2]]]
		}
	}
	return dst, nil
}

func fill(out []float32, v [3]float32) {
	for i := 0; i < len(out); i += 3 {
		out[i], out[i+1], out[i+2] = v[0], v[1], v[2]
	}
}
