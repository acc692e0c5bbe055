package graph_test

import "math"

// Plain Go reference maths for the op tests: straightforward loops in float64, no tricks.

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// unravel returns the multi-index of flat index i.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % shape[d]
		i /= shape[d]
	}
	return idx
}

// broadcastShape is numpy broadcasting of static shapes.
func broadcastShape(a, b []int) []int {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := range out {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		out[i] = max(da, db)
	}
	return out
}

// at reads x (of shape) at an output index of a broadcast result with rank len(idx).
func at(x []float32, shape []int, idx []int) float64 {
	off, st := 0, strides(shape)
	for d := range shape {
		i := idx[len(idx)-len(shape)+d]
		if shape[d] == 1 {
			i = 0
		}
		off += i * st[d]
	}
	return float64(x[off])
}

func refBinary(a []float32, as []int, b []float32, bs []int, f func(x, y float64) float64) ([]float32, []int) {
	os := broadcastShape(as, bs)
	out := make([]float32, numel(os))
	for i := range out {
		idx := unravel(i, os)
		out[i] = float32(f(at(a, as, idx), at(b, bs, idx)))
	}
	return out, os
}

func refUnary(x []float32, f func(float64) float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(f(float64(v)))
	}
	return out
}

// refMatMul multiplies [..., M, K] by [..., K, N] with broadcast batch axes, after optional
// transposition of the last two axes.
func refMatMul(x []float32, xs []int, y []float32, ys []int, adjX, adjY bool) ([]float32, []int) {
	rx, ry := len(xs), len(ys)
	m, k := xs[rx-2], xs[rx-1]
	if adjX {
		m, k = k, m
	}
	n := ys[ry-1]
	if adjY {
		n = ys[ry-2]
	}
	batch := broadcastShape(xs[:rx-2], ys[:ry-2])
	os := append(append([]int(nil), batch...), m, n)
	out := make([]float32, numel(os))
	xb, yb := xs[:rx-2], ys[:ry-2]
	for bi := 0; bi < numel(batch); bi++ {
		bidx := unravel(bi, batch)
		xoff := batchOffset(bidx, xb) * xs[rx-2] * xs[rx-1]
		yoff := batchOffset(bidx, yb) * ys[ry-2] * ys[ry-1]
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				acc := 0.0
				for l := 0; l < k; l++ {
					var xv, yv float32
					if adjX {
						xv = x[xoff+l*m+i]
					} else {
						xv = x[xoff+i*k+l]
					}
					if adjY {
						yv = y[yoff+j*k+l]
					} else {
						yv = y[yoff+l*n+j]
					}
					acc += float64(xv) * float64(yv)
				}
				out[bi*m*n+i*n+j] = float32(acc)
			}
		}
	}
	return out, os
}

func batchOffset(bidx []int, shape []int) int {
	off, st := 0, strides(shape)
	for d := range shape {
		i := bidx[len(bidx)-len(shape)+d]
		if shape[d] == 1 {
			i = 0
		}
		off += i * st[d]
	}
	return off
}

// refLinear is x [rows, K] · w[N, K]ᵀ + b.
func refLinear(x []float32, rows, k int, w []float32, n int, b []float32) []float32 {
	out := make([]float32, rows*n)
	for r := 0; r < rows; r++ {
		for o := 0; o < n; o++ {
			acc := 0.0
			if b != nil {
				acc = float64(b[o])
			}
			for i := 0; i < k; i++ {
				acc += float64(x[r*k+i]) * float64(w[o*k+i])
			}
			out[r*n+o] = float32(acc)
		}
	}
	return out
}

// refConv2D is NHWC input, OHWI filter, with TensorFlow's SAME/VALID padding.
func refConv2D(x []float32, xs []int, f []float32, fs []int, bias []float32, stride int, same bool) ([]float32, []int) {
	n, h, w, c := xs[0], xs[1], xs[2], xs[3]
	o, kh, kw := fs[0], fs[1], fs[2]
	var oh, ow, padT, padL int
	if same {
		oh, ow = (h+stride-1)/stride, (w+stride-1)/stride
		padT = max((oh-1)*stride+kh-h, 0) / 2
		padL = max((ow-1)*stride+kw-w, 0) / 2
	} else {
		oh, ow = (h-kh)/stride+1, (w-kw)/stride+1
	}
	out := make([]float32, n*oh*ow*o)
	for b := 0; b < n; b++ {
		for y := 0; y < oh; y++ {
			for x0 := 0; x0 < ow; x0++ {
				for oc := 0; oc < o; oc++ {
					acc := float64(bias[oc])
					for i := 0; i < kh; i++ {
						for j := 0; j < kw; j++ {
							iy, ix := y*stride+i-padT, x0*stride+j-padL
							if iy < 0 || iy >= h || ix < 0 || ix >= w {
								continue
							}
							for ic := 0; ic < c; ic++ {
								acc += float64(x[((b*h+iy)*w+ix)*c+ic]) * float64(f[((oc*kh+i)*kw+j)*c+ic])
							}
						}
					}
					out[((b*oh+y)*ow+x0)*o+oc] = float32(acc)
				}
			}
		}
	}
	return out, []int{n, oh, ow, o}
}

// refSoftmax normalises rows of length n.
func refSoftmax(x []float32, n int) []float32 {
	out := make([]float32, len(x))
	for r := 0; r < len(x)/n; r++ {
		row := x[r*n : (r+1)*n]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(float64(v) - m)
		}
		for i, v := range row {
			out[r*n+i] = float32(math.Exp(float64(v)-m) / sum)
		}
	}
	return out
}

// refLayerNorm normalises rows of length n with gain and bias.
func refLayerNorm(x []float32, n int, gamma, beta []float32, eps float64) []float32 {
	out := make([]float32, len(x))
	for r := 0; r < len(x)/n; r++ {
		row := x[r*n : (r+1)*n]
		mean := 0.0
		for _, v := range row {
			mean += float64(v)
		}
		mean /= float64(n)
		v := 0.0
		for _, x := range row {
			v += (float64(x) - mean) * (float64(x) - mean)
		}
		v /= float64(n)
		for i, x := range row {
			out[r*n+i] = float32((float64(x)-mean)/math.Sqrt(v+eps)*float64(gamma[i]) + float64(beta[i]))
		}
	}
	return out
}

// refTranspose permutes axes.
func refTranspose(x []float32, shape, perm []int) []float32 {
	os := make([]int, len(perm))
	for i, p := range perm {
		os[i] = shape[p]
	}
	st := strides(shape)
	out := make([]float32, len(x))
	for i := range out {
		idx := unravel(i, os)
		off := 0
		for d, p := range perm {
			off += idx[d] * st[p]
		}
		out[i] = x[off]
	}
	return out
}

func gelu(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }

func geluTanh(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
