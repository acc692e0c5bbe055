// Package shapes is the synthetic world the demo models in models/shapes were trained on:
// one or two coloured circles, squares or triangles on a plain background, described by a
// Scene, drawn at any canvas size by Render, and put into words by Caption, Labels and
// Questions. It follows the rules of the models' README and the renderer they were trained
// with (src/train_demo.py) to the pixel: hard edges (no antialiasing), objects inside the
// centred square of side min(width, height), the same float32 edge tests.
//
// The synthetic camera, the converter's calibration images and the daemon's tests use it, so
// a scene always has a known truth to compare a model's answer with.
package shapes

import (
	"fmt"
	"math/rand/v2"
)

// RGB is a colour as 8-bit red, green and blue.
type RGB [3]uint8

// The world's names, in the order the models' label list uses them.
var (
	colorNames      = []string{"red", "green", "blue", "yellow", "purple"}
	shapeNames      = []string{"circle", "square", "triangle"}
	backgroundNames = []string{"black", "gray", "white"}
)

var colorValues = map[string]RGB{
	"red":    {220, 35, 35},
	"green":  {35, 175, 60},
	"blue":   {40, 70, 225},
	"yellow": {235, 215, 40},
	"purple": {150, 50, 200},
}

var backgroundValues = map[string]RGB{
	"black": {15, 15, 15},
	"gray":  {128, 128, 128},
	"white": {240, 240, 240},
}

// Colors returns the five object colour names: red, green, blue, yellow, purple.
func Colors() []string { return append([]string(nil), colorNames...) }

// Shapes returns the three shape names: circle, square, triangle.
func Shapes() []string { return append([]string(nil), shapeNames...) }

// Backgrounds returns the three background names: black, gray, white.
func Backgrounds() []string { return append([]string(nil), backgroundNames...) }

// ColorRGB returns the RGB value of an object colour or a background name.
func ColorRGB(name string) (RGB, bool) {
	if c, ok := colorValues[name]; ok {
		return c, true
	}
	c, ok := backgroundValues[name]
	return c, ok
}

// Object is one shape in a scene. Position and size are fractions of the side of the centred
// square the objects live in, so a scene renders the same at any canvas size.
type Object struct {
	Color string `json:"color"` // one of Colors()
	Shape string `json:"shape"` // one of Shapes()
	// X and Y are the centre, from the square's top-left corner (0..1).
	X float64 `json:"x"`
	Y float64 `json:"y"`
	// Size is r of the README's shape rules: the circle's radius, 1/0.85 of the square's half
	// side, the triangle's half base.
	Size float64 `json:"size"`
	// Tint is added to each channel of the colour (training jittered by up to ±15); zero for
	// the exact colour. See Scene.Jittered.
	Tint [3]float64 `json:"tint,omitzero"`
}

// Label is the object's zero-shot label, "<colour> <shape>".
func (o Object) Label() string { return o.Color + " " + o.Shape }

// Scene is a picture of the world: a background and one or two objects, distinct as (colour,
// shape) pairs. It is plain data and marshals to JSON as it is.
type Scene struct {
	Background string   `json:"background"` // one of Backgrounds()
	Objects    []Object `json:"objects"`
}

// Validate reports the first thing in s that the world does not allow: an unknown name, a
// count of objects other than one or two, a repeated (colour, shape) pair, or a position or
// size outside the unit square.
func (s Scene) Validate() error {
	if _, ok := backgroundValues[s.Background]; !ok {
		return fmt.Errorf("shapes: unknown background %q (want one of %v)", s.Background, backgroundNames)
	}
	if n := len(s.Objects); n < 1 || n > 2 {
		return fmt.Errorf("shapes: a scene has one or two objects, this one has %d", n)
	}
	seen := map[string]bool{}
	for i, o := range s.Objects {
		if _, ok := colorValues[o.Color]; !ok {
			return fmt.Errorf("shapes: object %d: unknown colour %q (want one of %v)", i, o.Color, colorNames)
		}
		if !contains(shapeNames, o.Shape) {
			return fmt.Errorf("shapes: object %d: unknown shape %q (want one of %v)", i, o.Shape, shapeNames)
		}
		if seen[o.Label()] {
			return fmt.Errorf("shapes: object %d: %q appears twice", i, o.Label())
		}
		seen[o.Label()] = true
		// The negated comparisons also reject NaN.
		if !(o.X >= 0 && o.X <= 1) || !(o.Y >= 0 && o.Y <= 1) {
			return fmt.Errorf("shapes: object %d: centre (%g, %g) outside the unit square", i, o.X, o.Y)
		}
		if !(o.Size > 0 && o.Size <= 1) {
			return fmt.Errorf("shapes: object %d: size %g not in (0, 1]", i, o.Size)
		}
		for c, t := range o.Tint {
			if !(t >= -255 && t <= 255) {
				return fmt.Errorf("shapes: object %d: tint[%d] = %g not in [-255, 255]", i, c, t)
			}
		}
	}
	return nil
}

// Random draws a scene from the README's distribution: one object in two scenes out of three,
// two otherwise; background, colours and shapes uniform, the objects distinct. One object has
// size in [0.14, 0.28] and its centre in [0.32, 0.68]²; two objects have size in [0.12, 0.2],
// the first (left) at x in [0.22, 0.32], the second at x in [0.68, 0.78], y in [0.32, 0.68].
// Colours are exact; use Jittered for the training's colour jitter.
func Random(rng *rand.Rand) Scene {
	n := 1
	if rng.IntN(3) == 2 {
		n = 2
	}
	s := Scene{Background: backgroundNames[rng.IntN(len(backgroundNames))]}
	seen := map[string]bool{}
	for len(s.Objects) < n {
		o := Object{Color: colorNames[rng.IntN(len(colorNames))], Shape: shapeNames[rng.IntN(len(shapeNames))]}
		if seen[o.Label()] {
			continue
		}
		seen[o.Label()] = true
		s.Objects = append(s.Objects, o)
	}
	for i := range s.Objects {
		o := &s.Objects[i]
		if n == 1 {
			o.Size = uniform(rng, 0.14, 0.28)
			o.X = uniform(rng, 0.32, 0.68)
		} else {
			o.Size = uniform(rng, 0.12, 0.2)
			if i == 0 {
				o.X = uniform(rng, 0.22, 0.32)
			} else {
				o.X = uniform(rng, 0.68, 0.78)
			}
		}
		o.Y = uniform(rng, 0.32, 0.68)
	}
	return s
}

// Jittered returns a copy of s whose objects' colours are shifted by a uniform random amount
// in [-max, max] per channel, as in training (max 15).
func (s Scene) Jittered(rng *rand.Rand, max float64) Scene {
	out := Scene{Background: s.Background, Objects: append([]Object(nil), s.Objects...)}
	for i := range out.Objects {
		for c := range out.Objects[i].Tint {
			out.Objects[i].Tint[c] = uniform(rng, -max, max)
		}
	}
	return out
}

func uniform(rng *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
