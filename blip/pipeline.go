package blip

import (
	"errors"
	"fmt"
	"image"
	"math"

	"github.com/edged/edged/blip/spec"
)

// Session runs a Model for one goroutine at a time: it holds the interpreters and the
// decoder's caches. Make one per goroutine with Model.NewSession.
type Session struct {
	m        *Model
	vision   *session
	question *session // VQA
	itm      *session // retrieval
	itc      *session // retrieval
	dec      *decoder // captioning and VQA
	// attended is the image whose cross-attention keys and values the decoder holds, so
	// that more captions of one picture (other prompts, beams) skip recomputing them.
	attended *Image

	pixels []float32
	states []float32
	ids    []int32
	bias   []float32
}

// NewSession creates the interpreters of every model of the bundle.
func (m *Model) NewSession() (*Session, error) {
	s := &Session{m: m}
	var err error
	open := func(role string) *session {
		if err != nil {
			return nil
		}
		var se *session
		se, err = newSession(role, m.models[role], m.runtimeOptions(role))
		return se
	}
	s.vision = open(spec.RoleVision)
	switch m.Architecture {
	case spec.ArchVQA:
		s.question = open(spec.RoleQuestionEncoder)
	case spec.ArchRetrieval:
		s.itm, s.itc = open(spec.RoleITM), open(spec.RoleITCText)
	}
	if err == nil {
		err = s.checkShapes()
	}
	if err == nil && (m.Architecture == spec.ArchCaption || m.Architecture == spec.ArchVQA) {
		s.dec, err = newDecoder(m.dec, m.models[spec.RoleCrossKV], m.models[spec.RoleDecoderStep], m.runtimeOptions(spec.RoleCrossKV), m.runtimeOptions(spec.RoleDecoderStep))
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	for _, se := range []*session{s.vision, s.question, s.itm, s.itc} {
		if se != nil {
			se.after = m.opts.AfterRun
		}
	}
	if s.dec != nil {
		s.dec.crossKV.after, s.dec.st.s.after = m.opts.AfterRun, m.opts.AfterRun
	}
	s.pixels = make([]float32, m.imageSize*m.imageSize*3)
	s.ids = make([]int32, m.textContext)
	s.bias = make([]float32, m.textContext)
	return s, nil
}

// checkShapes holds the encoders' inputs and outputs against the manifest's sizes.
func (s *Session) checkShapes() error {
	m := s.m
	v := &shapeCheck{s: s.vision}
	v.in(spec.InPixelValues, 1, m.imageSize, m.imageSize, 3)
	v.out(spec.OutImageEmbeds, 1, m.visionTokens, m.visionHidden)
	if m.Architecture == spec.ArchRetrieval {
		v.out(spec.OutImageFeat, 1, m.projection)
	}
	checks := []*shapeCheck{v}
	for _, se := range []*session{s.question, s.itm, s.itc} {
		if se == nil {
			continue
		}
		c := &shapeCheck{s: se}
		c.in(spec.InInputIDs, 1, m.textContext)
		c.in(spec.InAttentionBias, 1, 1, 1, m.textContext)
		if se != s.itc {
			c.in(spec.InImageEmbeds, 1, m.visionTokens, m.visionHidden)
		} else {
			c.out(spec.OutTextFeat, 1, m.projection)
		}
		checks = append(checks, c)
	}
	for _, c := range checks {
		if c.err != nil {
			return c.err
		}
	}
	return nil
}

// Close frees the session's interpreters.
func (s *Session) Close() error {
	var errs []error
	for _, se := range []*session{s.vision, s.question, s.itm, s.itc} {
		if se != nil {
			errs = append(errs, se.close())
		}
	}
	if s.dec != nil {
		errs = append(errs, s.dec.close())
	}
	return errors.Join(errs...)
}

// Image is a picture encoded by the vision model, ready for any number of captions,
// questions or matches. It does not change once made.
type Image struct {
	embeds []float32 // [tokens, hidden]
	feat   []float32 // ITC image feature (retrieval models)
}

// EncodeImage preprocesses img as BlipImageProcessor does and runs the vision model.
func (s *Session) EncodeImage(img image.Image) (*Image, error) {
	px, err := s.m.proc.Process(img, s.pixels)
	if err != nil {
		return nil, fmt.Errorf("blip: preprocess: %w", err)
	}
	return s.EncodePixels(px)
}

// EncodePixels runs the vision model on preprocessed pixels [1, size, size, 3] (NHWC).
func (s *Session) EncodePixels(pixels []float32) (*Image, error) {
	if want := len(s.pixels); len(pixels) != want {
		return nil, fmt.Errorf("blip: %d pixel values, want %d (1×%d×%d×3)", len(pixels), want, s.m.imageSize, s.m.imageSize)
	}
	in, err := s.vision.input(spec.InPixelValues)
	if err != nil {
		return nil, err
	}
	if err := in.SetFloat32(pixels); err != nil {
		return nil, fmt.Errorf("blip: vision input: %w", err)
	}
	if err := s.vision.invoke(); err != nil {
		return nil, err
	}
	im := &Image{}
	if im.embeds, err = readOutput(s.vision, spec.OutImageEmbeds); err != nil {
		return nil, err
	}
	if s.m.Architecture == spec.ArchRetrieval {
		if im.feat, err = readOutput(s.vision, spec.OutImageFeat); err != nil {
			return nil, err
		}
	}
	return im, nil
}

// Embeds returns the image's last hidden state [tokens · hidden] (a view; do not modify).
func (im *Image) Embeds() []float32 { return im.embeds }

func readOutput(s *session, name string) ([]float32, error) {
	t, err := s.output(name)
	if err != nil {
		return nil, err
	}
	v, err := t.FiniteFloat32()
	if err != nil {
		return nil, fmt.Errorf("blip: %s output %s: %w", s.role, name, err)
	}
	return v, nil
}

// need checks that the bundle's class does what is asked.
func (s *Session) need(arch, what string) error {
	if s.m.Architecture != arch {
		return fmt.Errorf("blip: %s needs a %s bundle; this one is %s", what, arch, s.m.Architecture)
	}
	return nil
}

// CaptionIDs generates a caption of im as BlipForConditionalGeneration.generate does. prompt
// is the tokenized prompt as the tokenizer gives it ([CLS] … [SEP]) or nil for none: its
// [CLS] becomes [DEC] and its [SEP] is dropped, and the caption continues it. The result
// starts with the prompt (or [DEC]) and ends with [SEP] unless the length limit came first.
func (s *Session) CaptionIDs(im *Image, prompt []int32, o GenerateOptions) ([]int32, error) {
	start, err := s.captionStart(im, prompt)
	if err != nil {
		return nil, err
	}
	return generate(s.dec, start, s.m.sep, o)
}

// captionStart readies the decoder to caption im (its cross-attention keys and values,
// computed once per picture however many captions follow) and returns the tokens decoding
// starts from: [DEC], followed by the prompt's words.
func (s *Session) captionStart(im *Image, prompt []int32) ([]int32, error) {
	if err := s.need(ArchCaption, "captioning"); err != nil {
		return nil, err
	}
	start := []int32{s.m.bos}
	if len(prompt) > 0 {
		if len(prompt) < 2 {
			return nil, fmt.Errorf("blip: caption prompt %v is not [CLS] … [SEP]", prompt)
		}
		start = append([]int32{s.m.bos}, prompt[1:len(prompt)-1]...)
	}
	if err := s.checkImage(im); err != nil {
		return nil, err
	}
	if s.attended != im {
		s.attended = nil
		if err := s.dec.attend(im.embeds, s.m.visionTokens); err != nil {
			return nil, err
		}
		s.attended = im
	}
	return start, nil
}

// AnswerIDs answers a tokenized question ([CLS] … [SEP]) about im as
// BlipForQuestionAnswering.generate does: the question is encoded with cross-attention to the
// image, and the answer decoded from [DEC] attending to the question's states. The result
// starts with [DEC].
func (s *Session) AnswerIDs(im *Image, question []int32, o GenerateOptions) ([]int32, error) {
	if err := s.need(spec.ArchVQA, "question answering"); err != nil {
		return nil, err
	}
	states, n, err := s.QuestionStates(im, question)
	if err != nil {
		return nil, err
	}
	s.attended = nil
	if err := s.dec.attend(states, n); err != nil {
		return nil, err
	}
	return generate(s.dec, []int32{s.m.bos}, s.m.sep, o)
}

// QuestionStates runs the question encoder and returns its last hidden state, padded to the
// context ([context · hidden]), with the number of real tokens.
func (s *Session) QuestionStates(im *Image, question []int32) ([]float32, int, error) {
	if err := s.need(spec.ArchVQA, "question answering"); err != nil {
		return nil, 0, err
	}
	if err := s.setText(s.question, question, "question"); err != nil {
		return nil, 0, err
	}
	if err := s.setImage(s.question, im); err != nil {
		return nil, 0, err
	}
	if err := s.question.invoke(); err != nil {
		return nil, 0, err
	}
	t, err := s.question.output(spec.OutQuestionStates)
	if err != nil {
		return nil, 0, err
	}
	if s.states == nil {
		s.states = make([]float32, t.NumElements())
	}
	if err := t.ReadFiniteFloat32(s.states); err != nil {
		return nil, 0, fmt.Errorf("blip: question states: %w", err)
	}
	return s.states, len(question), nil
}

// Match is how well a text fits a picture.
type Match struct {
	// ITM is the image-text matching head's probability that the text describes the picture.
	ITM float64
	// ITMLogits are the head's logits (no match, match).
	ITMLogits [2]float32
	// ITC is the cosine similarity of the projected image and text features.
	ITC float64
}

// MatchIDs scores a tokenized text ([CLS] … [SEP]) against im with the ITM head and the ITC
// projections, as BlipForImageTextRetrieval does with use_itm_head true and false.
func (s *Session) MatchIDs(im *Image, text []int32) (Match, error) {
	m, err := s.ITMIDs(im, text)
	if err != nil {
		return m, err
	}
	if err := s.setText(s.itc, text, "text"); err != nil {
		return m, err
	}
	if err := s.itc.invoke(); err != nil {
		return m, err
	}
	feat, err := readOutput(s.itc, spec.OutTextFeat)
	if err != nil {
		return m, err
	}
	if len(feat) != len(im.feat) {
		return m, fmt.Errorf("blip: text feature of %d values, image feature of %d", len(feat), len(im.feat))
	}
	for i := range feat {
		m.ITC += float64(feat[i]) * float64(im.feat[i])
	}
	return m, nil
}

// ITMIDs is MatchIDs without ITC (its ITC is zero): the matching head alone, for callers that
// only rank by it (the text encoder of ITC would cost as much again).
func (s *Session) ITMIDs(im *Image, text []int32) (Match, error) {
	var m Match
	if err := s.need(spec.ArchRetrieval, "image-text matching"); err != nil {
		return m, err
	}
	if err := s.setText(s.itm, text, "text"); err != nil {
		return m, err
	}
	if err := s.setImage(s.itm, im); err != nil {
		return m, err
	}
	if err := s.itm.invoke(); err != nil {
		return m, err
	}
	logits, err := readOutput(s.itm, spec.OutITMLogits)
	if err != nil {
		return m, err
	}
	m.ITMLogits = [2]float32{logits[0], logits[1]}
	// softmax(logits)[1], computed stably.
	m.ITM = 1 / (1 + math.Exp(float64(logits[0])-float64(logits[1])))
	return m, nil
}

// setText writes ids, padded to the context, and their padding bias into a text encoder.
func (s *Session) setText(se *session, ids []int32, what string) error {
	T := s.m.textContext
	switch {
	case len(ids) == 0:
		return fmt.Errorf("blip: empty %s", what)
	case len(ids) > T:
		return fmt.Errorf("blip: %s of %d tokens is longer than the model's context of %d tokens ([CLS] and [SEP] included)", what, len(ids), T)
	}
	for i, id := range ids {
		if id < 0 || int(id) >= s.m.vocab {
			return fmt.Errorf("blip: %s token %d is id %d, outside the vocabulary of %d", what, i, id, s.m.vocab)
		}
	}
	for i := range s.ids {
		s.ids[i], s.bias[i] = s.m.pad, spec.MaskBias
		if i < len(ids) {
			s.ids[i], s.bias[i] = ids[i], 0
		}
	}
	ts := &tensorSet{s: se}
	idsT, biasT := ts.in(spec.InInputIDs), ts.in(spec.InAttentionBias)
	if ts.err != nil {
		return ts.err
	}
	if err := idsT.SetInt32(s.ids); err != nil {
		return fmt.Errorf("blip: %s input ids: %w", se.role, err)
	}
	if err := biasT.SetFloat32(s.bias); err != nil {
		return fmt.Errorf("blip: %s attention bias: %w", se.role, err)
	}
	return nil
}

// checkImage makes sure im came from this model's vision tower.
func (s *Session) checkImage(im *Image) error {
	if im == nil || len(im.embeds) != s.m.visionTokens*s.m.visionHidden {
		return errors.New("blip: the image was not encoded by this model's vision tower")
	}
	return nil
}

func (s *Session) setImage(se *session, im *Image) error {
	if err := s.checkImage(im); err != nil {
		return err
	}
	t, err := se.input(spec.InImageEmbeds)
	if err != nil {
		return err
	}
	if err := t.SetFloat32(im.embeds); err != nil {
		return fmt.Errorf("blip: %s image input: %w", se.role, err)
	}
	return nil
}
