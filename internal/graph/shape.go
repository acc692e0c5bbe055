package graph

import "fmt"

// checkShape rejects negative dimensions other than Dynamic (allowed only where the caller says).
func checkShape(shape []int, allowDynamic bool) error {
	for _, d := range shape {
		if d < 0 && !(allowDynamic && d == Dynamic) {
			return fmt.Errorf("bad dimension %d in shape %v", d, shape)
		}
	}
	return nil
}

// numElements returns the element count, or Dynamic if a dimension is dynamic.
func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		if d == Dynamic {
			return Dynamic
		}
		n *= d
	}
	return n
}

// broadcast returns the numpy broadcast of two shapes. A dynamic dimension against 1 stays
// dynamic; against a fixed size it takes that size (it must equal it at run time).
func broadcast(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		case da == Dynamic:
			out[i] = db
		case db == Dynamic:
			out[i] = da
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast (dimension %d: %d vs %d)", a, b, i, da, db)
		}
	}
	return out, nil
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis, rank int) (int, error) {
	if axis < -rank || axis >= rank {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += rank
	}
	return axis, nil
}

func hasDynamic(shape []int) bool {
	for _, d := range shape {
		if d == Dynamic {
			return true
		}
	}
	return false
}

// sameDim reports whether two dimensions can be equal (a dynamic one can be anything).
func sameDim(a, b int) bool { return a == b || a == Dynamic || b == Dynamic }
