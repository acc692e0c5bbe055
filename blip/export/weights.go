package export

// rows returns rows [from, to) of a row-major [n, cols] matrix (a copy-free view).
func rows(m []float32, cols, from, to int) []float32 {
	if m == nil {
		return nil
	}
	return m[from*cols : to*cols]
}

// scaled returns a copy of v multiplied by s.
func scaled(v []float32, s float32) []float32 {
	if v == nil {
		return nil
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * s
	}
	return out
}
