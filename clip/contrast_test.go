package clip

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randomUnit is a seeded random unit vector of width dim.
func randomUnit(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return Normalize(v)
}

// A label's score is the softmax mass of the texts that show it over every text it is told
// apart from, written out text by text here: the label itself and its pairs with the contrast
// labels against the contrast's labels, pairs and background (and the set's own background);
// a label that is a contrast label takes that label's place, and the contrast's pairs naming
// it show it. The classifier sums the same terms without listing them.
func TestScoresAreTheMassOfTheTextsThatShowTheLabel(t *testing.T) {
	const dim, scale = 16, 30
	rng := rand.New(rand.NewPCG(1, 2))
	cset, err := ParseLabelSet([]byte("name: world\npairs: '{} and a {}'\nlabels: [cat, dog, car]\nbackground: [an empty room]\n"), "world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	items := [][]float32{randomUnit(rng, dim), randomUnit(rng, dim), randomUnit(rng, dim)}
	_, pairIdx := cset.PairSet()
	pairs := make([][]float32, len(pairIdx))
	for i := range pairs {
		pairs[i] = randomUnit(rng, dim)
	}
	bg := [][]float32{randomUnit(rng, dim)}
	con, err := NewContrast(cset, items, pairs, bg, scale)
	if err != nil {
		t.Fatal(err)
	}
	set, err := ParseLabelSet([]byte("name: mine\nlabels: [Dog, person]\nbackground: [my driveway]\n"), "mine.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dog, person := randomUnit(rng, dim), randomUnit(rng, dim)
	if con.Find("Dog", dog) != 1 || con.Find("person", person) != -1 || con.Find("kitten", items[0]) != 0 {
		t.Fatalf("Find: Dog %d, person %d, kitten with cat's embedding %d", con.Find("Dog", dog), con.Find("person", person), con.Find("kitten", items[0]))
	}
	with := con.PairsWith("person")
	if len(with) != 6 || with[0].Name != "person and a cat" || with[1].Name != "cat and a person" || with[5].Prompts[0] != "a photo of a car and a person" {
		t.Fatalf("PairsWith(person) = %+v", with)
	}
	personPairs := make([][]float32, len(with))
	for i := range personPairs {
		personPairs[i] = randomUnit(rng, dim)
	}
	own := [][]float32{randomUnit(rng, dim)}
	cls, err := NewClassifier(set, [][]float32{dog, person}, con, [][][]float32{nil, personPairs}, own)
	if err != nil {
		t.Fatal(err)
	}

	// softmaxMass is the share of the first nShow texts of a softmax over texts.
	softmaxMass := func(img []float32, texts [][]float32, nShow int) float64 {
		var show, all float64
		for i, e := range texts {
			x := math.Exp(scale * float64(Dot(img, e)))
			all += x
			if i < nShow {
				show += x
			}
		}
		return show / all
	}
	for n := range 50 {
		img := randomUnit(rng, dim)
		if n == 0 {
			img = pairs[slices.Index(pairIdx, [2]int{1, 2})] // a frame of "dog and a car"
		}
		got, err := cls.Classify(img)
		if err != nil {
			t.Fatal(err)
		}
		// dog is contrast label 1: dog and the pairs naming dog, against cat, car, the other
		// pairs, the background and the set's own background.
		texts := [][]float32{dog}
		var others [][]float32
		for i, ab := range pairIdx {
			if ab[0] == 1 || ab[1] == 1 {
				texts = append(texts, pairs[i])
			} else {
				others = append(others, pairs[i])
			}
		}
		nShow := len(texts)
		texts = append(append(append(append(texts, items[0], items[2]), others...), bg...), own...)
		wantDog := softmaxMass(img, texts, nShow)
		// person is no contrast label: person and its pairs, against everything else.
		texts = append(append([][]float32{person}, personPairs...), items...)
		texts = append(append(append(texts, pairs...), bg...), own...)
		wantPerson := softmaxMass(img, texts, 1+len(personPairs))
		for _, s := range got {
			want := map[string]float64{"Dog": wantDog, "person": wantPerson}[s.Label]
			if math.Abs(s.Score-want) > 1e-9 {
				t.Fatalf("frame %d: %s scores %.12f, the texts written out %.12f", n, s.Label, s.Score, want)
			}
		}
		if n == 0 && wantDog < 0.5 {
			t.Errorf("a frame of the pair 'dog and a car' gives dog %.3f", wantDog)
		}
		if share := got[0].Share + got[1].Share; math.Abs(share-1) > 1e-12 || got[0].Share < got[1].Share {
			t.Errorf("frame %d: shares %v (first the largest, adding up to one)", n, got)
		}
	}

	dst := make([]Score, 2)
	img := randomUnit(rng, dim)
	if allocs := testing.AllocsPerRun(100, func() {
		if err := cls.ClassifyInto(img, dst); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("ClassifyInto allocates %v times a frame", allocs)
	}

	// Wrong inputs are refused with what is wrong.
	for _, c := range []struct {
		name string
		err  func() error
		want string
	}{
		{"no contrast", func() error {
			_, err := NewClassifier(set, [][]float32{dog, person}, nil, [][][]float32{nil, personPairs}, own)
			return err
		}, "no contrast"},
		{"missing pairs", func() error {
			_, err := NewClassifier(set, [][]float32{dog, person}, con, [][][]float32{nil, nil}, own)
			return err
		}, `label "person": 0 pair embeddings, the contrast has 6`},
		{"missing background", func() error {
			_, err := NewClassifier(set, [][]float32{dog, person}, con, [][][]float32{nil, personPairs}, nil)
			return err
		}, "0 background embeddings for 1 prompts"},
		{"narrow label", func() error {
			_, err := NewClassifier(set, [][]float32{dog[:4], person}, con, [][][]float32{nil, personPairs}, own)
			return err
		}, "4 wide, want 16"},
		{"pairs missing from the contrast", func() error { _, err := NewContrast(cset, items, nil, bg, scale); return err }, "3, 0 and 1 embeddings for 3 labels, 6 pairs"},
		{"logit scale", func() error { _, err := NewContrast(cset, items, pairs, bg, 1000); return err }, "logit scale 1000"},
	} {
		if err := c.err(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// The built-in contrast set parses, pairs every label with every other, and keeps its
// background prompts apart.
func TestDefaultContrastSet(t *testing.T) {
	set := DefaultContrastSet()
	ps, idx := set.PairSet()
	if len(set.Labels) < 10 || ps == nil || len(idx) != len(set.Labels)*(len(set.Labels)-1) || len(set.Background) == 0 {
		t.Fatalf("default contrast: %d labels, %d pairs, %d background prompts", len(set.Labels), len(idx), len(set.Background))
	}
	if !slices.Contains(set.Names(), "person") || !slices.Contains(set.Names(), "car") {
		t.Errorf("the default contrast lacks person or car: %v", set.Names())
	}
}
