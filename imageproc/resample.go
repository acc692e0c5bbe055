package imageproc

import "math"

// This file reproduces Pillow's convolution resize for 8-bit images (libImaging/Resample.c):
// a separable filter whose support widens by the scale factor when shrinking (antialiasing),
// coefficients normalised to sum 1 in float64 and then turned into 22-bit fixed point, a
// horizontal pass first over only the rows the vertical pass needs, and rounding and clipping
// to uint8 after each pass. Every float operation follows the C code in order; explicit
// float64() conversions keep the Go compiler from fusing a multiply and an add (it may on
// arm64), which would round differently from Pillow built for x86-64.

// precisionBits is Pillow's PRECISION_BITS: 32 bits less 8 for the value and 2 for overshoot.
const precisionBits = 32 - 8 - 2

// filter is a resampling kernel with its support (half width at scale 1) and the fixed-point
// format of its weights.
type filter struct {
	kernel  func(x float64) float64
	support float64
	// int16Weights selects PyTorch's int16 weights with a precision fitted to the largest
	// weight, instead of Pillow's int32 weights with 22 fractional bits.
	int16Weights bool
}

// pillowFilters are Pillow's, by PIL number.
var pillowFilters = map[Resample]filter{
	Box:      {boxKernel, 0.5, false},
	Bilinear: {bilinearKernel, 1, false},
	Hamming:  {hammingKernel, 1, false},
	Bicubic:  {bicubicKernel, 2, false},
	Lanczos:  {lanczosKernel, 3, false},
}

// torchFilters are PyTorch's antialiased uint8 kernels (aten UpSampleKernel.cpp), the two
// torchvision offers for tensors.
var torchFilters = map[Resample]filter{
	Bilinear: {bilinearKernel, 1, true},
	Bicubic:  {torchBicubicKernel, 2, true},
}

func boxKernel(x float64) float64 {
	if x > -0.5 && x <= 0.5 {
		return 1
	}
	return 0
}

func bilinearKernel(x float64) float64 {
	x = math.Abs(x)
	if x < 1 {
		return 1 - x
	}
	return 0
}

func hammingKernel(x float64) float64 {
	x = math.Abs(x)
	if x == 0 {
		return 1
	}
	if x >= 1 {
		return 0
	}
	x = float64(x * math.Pi)
	// Pillow writes 0.54f and 0.46f: float constants, widened to double.
	return float64(math.Sin(x)/x) * (float64(float32(0.54)) + float64(float64(float32(0.46))*math.Cos(x)))
}

// bicubicKernel is Keys' cubic convolution with a = -0.5, as Pillow writes it.
func bicubicKernel(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	if x < 1 {
		return float64(float64(float64((a+2)*x)-(a+3))*x)*x + 1
	}
	if x < 2 {
		return float64(float64(float64(float64(x-5)*x)+8)*x-4) * a
	}
	return 0
}

// torchBicubicKernel is PyTorch's cubic_convolution1/2 with A = -0.5: the same function as
// bicubicKernel, written (and so rounded) differently for 1 ≤ |x| < 2.
func torchBicubicKernel(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	if x < 1 {
		return float64(float64(float64((a+2)*x)-(a+3))*x)*x + 1
	}
	if x < 2 {
		return float64(float64(float64(float64(a*x)-5*a)*x)+8*a)*x - 4*a
	}
	return 0
}

func sincKernel(x float64) float64 {
	if x == 0 {
		return 1
	}
	x = float64(x * math.Pi)
	return math.Sin(x) / x
}

func lanczosKernel(x float64) float64 {
	if -3 <= x && x < 3 {
		return sincKernel(x) * sincKernel(x/3)
	}
	return 0
}

// coefficients are one pass's fixed-point weights: output i reads start[i] … start[i]+count[i]-1
// of the input with weights k[i*ksize:], each an integer in units of 2^-precision.
type coefficients struct {
	ksize        int
	start, count []int
	k            []int32
	precision    uint
	work         []float64 // float weights before fixed point, kept to reuse the memory
}

// compute fills c for resizing inSize samples to outSize over the whole input, as Pillow's
// precompute_coeffs followed by normalize_coeffs_8bpc, or with int16 as PyTorch's uint8
// kernel. It reuses c's slices.
func (c *coefficients) compute(inSize, outSize int, f filter) {
	scale := float64(inSize) / float64(outSize)
	filterScale := max(scale, 1)
	support := f.support * filterScale
	c.ksize = int(math.Ceil(support))*2 + 1

	c.start = resize(c.start, outSize)
	c.count = resize(c.count, outSize)
	c.work = resize(c.work, outSize*c.ksize)
	c.k = resize(c.k, outSize*c.ksize)
	inverse := 1 / filterScale
	for xx := 0; xx < outSize; xx++ {
		center := float64(float64(xx)+0.5) * scale
		xmin := max(int(center-support+0.5), 0) // C's (int) truncates toward zero
		xmax := min(int(center+support+0.5), inSize) - xmin
		w := c.work[xx*c.ksize : (xx+1)*c.ksize]
		total := 0.0
		for x := 0; x < xmax; x++ {
			w[x] = f.kernel(float64(float64(x+xmin)-center+0.5) * inverse)
			total += w[x]
		}
		for x := 0; x < xmax; x++ {
			if total != 0 {
				w[x] /= total
			}
		}
		for x := xmax; x < c.ksize; x++ {
			w[x] = 0
		}
		c.start[xx], c.count[xx] = xmin, xmax
	}
	c.precision = precisionBits
	if f.int16Weights {
		c.precision = int16Precision(c.work)
	}
	one := float64(int64(1) << c.precision)
	for i, w := range c.work {
		if w < 0 {
			c.k[i] = int32(-0.5 + float64(w*one))
		} else {
			c.k[i] = int32(0.5 + float64(w*one))
		}
	}
}

// int16Precision is PyTorch's choice of fixed-point bits for uint8 resampling
// (_compute_indices_int16_weights_aa): the most, below 22, that keep the largest weight
// under 2^15 with one bit to spare.
func int16Precision(weights []float64) uint {
	wMax := weights[0]
	for _, w := range weights {
		wMax = max(wMax, w)
	}
	var p uint
	for p = 0; p < 22; p++ {
		if int(0.5+float64(wMax*float64(int64(1)<<(p+1)))) >= 1<<15 {
			break
		}
	}
	return p
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// clip8 turns a fixed-point sum into a byte as Pillow's clip8: shift, then saturate.
func clip8(v int32, precision uint) uint8 {
	v >>= precision
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// view is read access to 8-bit RGB pixels in a packed layout of 3 or 4 bytes a pixel: pixel
// (x, y) has its red, green and blue at pix[y*stride + x*step + off[0|1|2]]. The resampling
// passes keep the byte order (bytes 0, 1, 2 of each pixel) and only the final lookup applies
// off, so BGR frames cost nothing extra.
type view struct {
	pix           []byte
	width, height int
	stride, step  int // step is 3 or 4
	off           [3]int
}

// packed is a tightly packed 3-byte view of the given size and channel order.
func packed(pix []byte, width, height int, off [3]int) view {
	return view{pix: pix, width: width, height: height, stride: width * 3, step: 3, off: off}
}

var rgbOrder = [3]int{0, 1, 2}

// window is a rectangle of output pixels [x0, x1) × [y0, y1).
type window struct{ x0, y0, x1, y1 int }

func (w window) dx() int { return w.x1 - w.x0 }
func (w window) dy() int { return w.y1 - w.y0 }

// resampler holds the reusable memory of one resize.
type resampler struct {
	horizontal, vertical coefficients
	temp                 []byte  // horizontal pass output
	acc                  []int32 // vertical pass sums of one row
}

// resizeWindow resizes src to outW × outH with filter f and writes only the pixels of win
// (within the output) to dst, 3 bytes a pixel in src's byte order. The pixels equal those of
// a full resize: every output pixel depends only on its own coefficients, so skipping the
// ones a crop discards changes nothing.
func (r *resampler) resizeWindow(src view, outW, outH int, win window, f filter, dst []byte) {
	needHorizontal := outW != src.width
	needVertical := outH != src.height

	if !needHorizontal && !needVertical {
		copyWindow(src, win, dst)
		return
	}
	if !needVertical {
		r.horizontal.compute(src.width, outW, f)
		horizontalPass(src, win.y0, win.dy(), &r.horizontal, win.x0, win.x1, dst)
		return
	}

	r.vertical.compute(src.height, outH, f)
	r.acc = resize(r.acc, win.dx()*3)
	if !needHorizontal {
		verticalPass(src, 0, &r.vertical, win, dst, r.acc)
		return
	}
	// Rows of the input that the window's output rows read, as Pillow's ybox_first and
	// ybox_last, restricted to the window.
	first := r.vertical.start[win.y0]
	last := r.vertical.start[win.y1-1] + r.vertical.count[win.y1-1]
	r.horizontal.compute(src.width, outW, f)
	r.temp = resize(r.temp, win.dx()*(last-first)*3)
	horizontalPass(src, first, last-first, &r.horizontal, win.x0, win.x1, r.temp)
	temp := packed(r.temp, win.dx(), last-first, src.off)
	verticalPass(temp, first, &r.vertical, window{0, win.y0, win.dx(), win.y1}, dst, r.acc)
}

// horizontalPass resamples rows [y0, y0+rows) of src along x, writing output columns
// [x0, x1), 3 bytes a pixel, to dst.
func horizontalPass(src view, y0, rows int, c *coefficients, x0, x1 int, dst []byte) {
	half := int32(1) << (c.precision - 1)
	w := x1 - x0
	step := src.step
	for y := 0; y < rows; y++ {
		row := src.pix[(y0+y)*src.stride:]
		out := dst[y*w*3 : (y+1)*w*3]
		for xx := x0; xx < x1; xx++ {
			k := c.k[xx*c.ksize : xx*c.ksize+c.count[xx]]
			seg := row[c.start[xx]*step:]
			s0, s1, s2 := half, half, half
			for j, kv := range k {
				px := seg[j*step : j*step+3]
				s0 += int32(px[0]) * kv
				s1 += int32(px[1]) * kv
				s2 += int32(px[2]) * kv
			}
			o := out[(xx-x0)*3 : (xx-x0)*3+3]
			o[0], o[1], o[2] = clip8(s0, c.precision), clip8(s1, c.precision), clip8(s2, c.precision)
		}
	}
}

// verticalPass resamples along y: output row yy of win sums rows start[yy]-rowOffset … of src
// (columns win.x0 … win.x1) into acc, a row at a time to read memory in order, and writes
// them, 3 bytes a pixel, to dst. Integer sums do not depend on their order.
func verticalPass(src view, rowOffset int, c *coefficients, win window, dst []byte, acc []int32) {
	half := int32(1) << (c.precision - 1)
	w := win.dx()
	step := src.step
	for yy := win.y0; yy < win.y1; yy++ {
		for i := range acc {
			acc[i] = half
		}
		k := c.k[yy*c.ksize : yy*c.ksize+c.count[yy]]
		first := c.start[yy] - rowOffset
		for j, kv := range k {
			row := src.pix[(first+j)*src.stride+win.x0*step:]
			if step == 3 {
				row = row[:w*3]
				for i, v := range row {
					acc[i] += int32(v) * kv
				}
				continue
			}
			for x := 0; x < w; x++ {
				px := row[x*step : x*step+3]
				a := acc[x*3 : x*3+3]
				a[0] += int32(px[0]) * kv
				a[1] += int32(px[1]) * kv
				a[2] += int32(px[2]) * kv
			}
		}
		out := dst[(yy-win.y0)*w*3 : (yy-win.y0+1)*w*3]
		for i, v := range acc {
			out[i] = clip8(v, c.precision)
		}
	}
}

// copyWindow copies the pixels of win from src, 3 bytes a pixel in src's order, into dst.
func copyWindow(src view, win window, dst []byte) {
	w := win.dx()
	for y := win.y0; y < win.y1; y++ {
		row := src.pix[y*src.stride:]
		out := dst[(y-win.y0)*w*3:]
		for x := win.x0; x < win.x1; x++ {
			px := row[x*src.step : x*src.step+3]
			o := out[(x-win.x0)*3 : (x-win.x0)*3+3]
			o[0], o[1], o[2] = px[0], px[1], px[2]
		}
	}
}
