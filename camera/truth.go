package camera

import "strings"

// Keys of Frame.Annotations under which the synthetic source says what its picture shows, in
// the words the models answer in, so that results can be compared with the truth without
// knowing how the synthetic world is made.
const (
	// TruthLabels is the zero-shot labels of the objects shown, joined by " and ":
	// "red circle and blue square".
	TruthLabels = "truth.labels"
	// TruthCaption is the reference caption of the picture.
	TruthCaption = "truth.caption"
	// truthAnswerPrefix starts the key of the answer to one question (see TruthAnswerKey).
	truthAnswerPrefix = "truth.answer: "
)

// TruthAnswerKey is the annotation key of the true answer to question. Questions that differ
// only in case, spacing or a final "?" share a key.
func TruthAnswerKey(question string) string {
	q := strings.ToLower(strings.Join(strings.Fields(question), " "))
	return truthAnswerPrefix + strings.TrimSpace(strings.TrimSuffix(q, "?"))
}
