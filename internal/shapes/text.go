package shapes

import (
	"sort"
	"strconv"
	"strings"
)

// LabelTemplate is the prompt template the CLIP model was trained and evaluated with.
const LabelTemplate = "a photo of a {}"

// Labels returns the 15 zero-shot labels "<colour> <shape>", colours in the order of Colors()
// and shapes in the order of Shapes() within each colour: red circle, red square, ….
func Labels() []string {
	labels := make([]string, 0, len(colorNames)*len(shapeNames))
	for _, c := range colorNames {
		for _, s := range shapeNames {
			labels = append(labels, c+" "+s)
		}
	}
	return labels
}

// Caption is the sentence the caption model was trained to say for s:
// "a red circle on a black background", or with two objects, left to right,
// "a red circle and a blue square on a gray background".
func (s Scene) Caption() string {
	objs := append([]Object(nil), s.Objects...)
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].X < objs[j].X })
	phrases := make([]string, len(objs))
	for i, o := range objs {
		phrases[i] = "a " + o.Label()
	}
	return strings.Join(phrases, " and ") + " on a " + s.Background + " background"
}

// QA is a question about a scene with its truthful answer.
type QA struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

// Questions returns every question of the kinds the VQA model was trained on that has one
// truthful answer for s, in this order: the background's colour; how many shapes; the colour
// of each shape that appears once; the shape of each colour that appears once; and "is there
// a <colour> <shape>?" for all 15 labels. A question whose answer would be ambiguous (the
// colour of a shape that appears twice) is left out.
func Questions(s Scene) []QA {
	qs := []QA{
		{"what color is the background?", s.Background},
		{"how many shapes are there?", numberWord(len(s.Objects))},
	}
	shapeCount := map[string]int{}
	colorCount := map[string]int{}
	present := map[string]bool{}
	for _, o := range s.Objects {
		shapeCount[o.Shape]++
		colorCount[o.Color]++
		present[o.Label()] = true
	}
	for _, o := range s.Objects {
		if shapeCount[o.Shape] == 1 {
			qs = append(qs, QA{"what color is the " + o.Shape + "?", o.Color})
		}
	}
	for _, o := range s.Objects {
		if colorCount[o.Color] == 1 {
			qs = append(qs, QA{"what shape is " + o.Color + "?", o.Shape})
		}
	}
	for _, label := range Labels() {
		answer := "no"
		if present[label] {
			answer = "yes"
		}
		qs = append(qs, QA{"is there a " + label + "?", answer})
	}
	return qs
}

// numberWord spells a count the way the training answers did ("one", "two"); larger counts,
// which the world does not have, fall back to digits.
func numberWord(n int) string {
	words := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
	if n >= 0 && n < len(words) {
		return words[n]
	}
	return strconv.Itoa(n)
}
