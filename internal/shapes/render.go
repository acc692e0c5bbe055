package shapes

import (
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
)

// MaxPixels bounds the canvas Render accepts (width × height), so a typo in a configuration
// cannot ask for gigabytes: 16 megapixels, twice a 4K frame.
const MaxPixels = 16 << 20

// Options are the optional imperfections of a rendering.
type Options struct {
	// Noise is the standard deviation of Gaussian noise added to every channel of every
	// pixel, in 8-bit levels (training used up to 6); 0 renders clean pixels.
	Noise float64
	// Rand is the source of the noise; required when Noise > 0.
	Rand *rand.Rand
}

// Render draws s on a width × height canvas. Objects live in the centred square of side
// min(width, height); pixel (i, j) is sampled at its centre (i+0.5, j+0.5) with the README's
// inside tests in float32, exactly as the training renderer does (no antialiasing), so the
// clean rendering of a reference scene equals its PNG byte for byte. Later objects paint
// over earlier ones. The result is opaque.
func Render(s Scene, width, height int, opts Options) (*image.RGBA, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("shapes: render: %w", err)
	}
	if width <= 0 || height <= 0 {
		return nil, fmt.Errorf("shapes: render: canvas %dx%d is empty", width, height)
	}
	if int64(width)*int64(height) > MaxPixels {
		return nil, fmt.Errorf("shapes: render: canvas %dx%d is over the limit of %d pixels", width, height, MaxPixels)
	}
	if !(opts.Noise >= 0) || math.IsInf(opts.Noise, 0) {
		return nil, fmt.Errorf("shapes: render: noise %g must be a finite number ≥ 0", opts.Noise)
	}
	if opts.Noise > 0 && opts.Rand == nil {
		return nil, errors.New("shapes: render: noise needs a random source (Options.Rand)")
	}

	// Each pixel records which object painted it last (0 for the background); the colours
	// are float32 as in the training renderer, noise is added to them and the sum rounded
	// once at the end.
	owner := make([]uint8, width*height)
	palette := make([][3]float32, len(s.Objects)+1)
	bg := backgroundValues[s.Background]
	palette[0] = [3]float32{float32(bg[0]), float32(bg[1]), float32(bg[2])}
	geo := newCanvasGeometry(width, height)
	for i, o := range s.Objects {
		palette[i+1] = objectColor(o)
		paint(owner, width, height, geo, o, uint8(i+1))
	}

	img := image.NewRGBA(image.Rect(0, 0, width, height))
	sigma := float32(opts.Noise)
	for y := 0; y < height; y++ {
		dst := img.Pix[y*img.Stride : y*img.Stride+width*4]
		for x, who := range owner[y*width : (y+1)*width] {
			col := palette[who]
			for c := range 3 {
				v := col[c]
				if sigma > 0 {
					v += float32(opts.Rand.NormFloat64()) * sigma
				}
				dst[4*x+c] = toByte(v)
			}
			dst[4*x+3] = 255
		}
	}
	return img, nil
}

// objectColor is the object's colour plus its tint, clamped, in float32 as the training
// renderer computes it.
func objectColor(o Object) [3]float32 {
	base := colorValues[o.Color]
	var col [3]float32
	for c := range col {
		col[c] = min(max(float32(base[c])+float32(o.Tint[c]), 0), 255)
	}
	return col
}

// canvasGeometry places the unit square of scene coordinates on a canvas.
type canvasGeometry struct {
	side, ox, oy float64
}

func newCanvasGeometry(width, height int) canvasGeometry {
	side := min(width, height)
	return canvasGeometry{
		side: float64(side),
		ox:   float64(width-side) / 2,
		oy:   float64(height-side) / 2,
	}
}

// paint marks the pixels inside o as painted by id. The arithmetic mirrors the reference renderer
// (PyTorch): centre and size in float64, pixel coordinates and the differences to the centre
// in float32, thresholds computed in float64 and rounded to float32. The explicit conversions
// keep the compiler from fusing a multiply and an add, which would round differently.
func paint(owner []uint8, width, height int, g canvasGeometry, o Object, id uint8) {
	cx := g.ox + float64(g.side*o.X)
	cy := g.oy + float64(g.side*o.Y)
	r := g.side * o.Size

	// Only the pixels of the bounding box (with a pixel of margin) can be inside.
	x0 := max(int(math.Floor(cx-r))-1, 0)
	x1 := min(int(math.Ceil(cx+r))+1, width)
	y0 := max(int(math.Floor(cy-r))-1, 0)
	y1 := min(int(math.Ceil(cy+r))+1, height)

	cx32, cy32, r32 := float32(cx), float32(cy), float32(r)
	var inside func(x, y float32) bool
	switch o.Shape {
	case "circle":
		rr := float32(r * r)
		inside = func(x, y float32) bool {
			dx, dy := x-cx32, y-cy32
			return float32(dx*dx)+float32(dy*dy) < rr
		}
	case "square":
		half := float32(r * 0.85)
		inside = func(x, y float32) bool {
			return abs32(x-cx32) < half && abs32(y-cy32) < half
		}
	default: // triangle, apex up
		top := cy - r
		bottom := cy + float64(r*0.8)
		top32, bottom32, height32 := float32(top), float32(bottom), float32(bottom-top)
		inside = func(x, y float32) bool {
			return y > top32 && y < bottom32 && abs32(x-cx32) < float32((y-top32)/height32)*r32
		}
	}

	for py := y0; py < y1; py++ {
		y := float32(py) + 0.5
		row := owner[py*width : (py+1)*width]
		for px := x0; px < x1; px++ {
			if inside(float32(px)+0.5, y) {
				row[px] = id
			}
		}
	}
}

func abs32(v float32) float32 { return float32(math.Abs(float64(v))) }

// toByte clamps to 0..255 and rounds half to even, as torch.round does.
func toByte(v float32) uint8 {
	return uint8(math.RoundToEven(float64(min(max(v, 0), 255))))
}

// Rendered is a scene drawn on a canvas, with its truth.
type Rendered struct {
	Scene Scene
	Image *image.RGBA
}

// HeldOutCanvases are the canvas sizes (width, height) HeldOut draws scenes at: square and
// 4:3 both ways, smaller and larger than the models' 64-pixel input, as in training.
var HeldOutCanvases = [][2]int{{64, 64}, {96, 96}, {128, 128}, {160, 160}, {160, 120}, {320, 240}, {120, 160}}

// HeldOut draws n scenes from seed as training drew them (Random, colour jitter up to 15,
// Gaussian noise up to 6, one of HeldOutCanvases): scenes no model saw, with known truth.
// With objects 1 or 2 only scenes of that many objects are kept; 0 keeps the world's mix.
func HeldOut(seed uint64, n, objects int) ([]Rendered, error) {
	if objects < 0 || objects > 2 {
		return nil, fmt.Errorf("shapes: held-out scenes of %d objects; the world has one or two", objects)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]Rendered, 0, n)
	for len(out) < n {
		s := Random(rng)
		if objects != 0 && len(s.Objects) != objects {
			continue
		}
		s = s.Jittered(rng, 15)
		c := HeldOutCanvases[rng.IntN(len(HeldOutCanvases))]
		img, err := Render(s, c[0], c[1], Options{Noise: 6 * rng.Float64(), Rand: rng})
		if err != nil {
			return nil, err
		}
		out = append(out, Rendered{s, img})
	}
	return out, nil
}
