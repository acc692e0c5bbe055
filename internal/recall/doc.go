// Package recall remembers recent frames so they can be searched in plain words: per camera
// a bounded ring of the frames' CLIP image embeddings, small JPEG thumbnails, capture times,
// frame numbers and, for synthetic frames, the scene they show.
//
// Search ranks the remembered frames by cosine similarity between a query's CLIP text
// embedding and each frame's image embedding, or by CLIP's probability of the query against
// contrast texts such as the camera's labels, best first; an optional Reranker may rescore
// the best of them (MatchReranker: BLIP image-text matching on the thumbnails). recall runs no model itself:
// embeddings are handed in by the caller, which already computed them for labelling.
//
// Memory is bounded three ways (Options): frames per camera, the age of a frame, and the
// bytes held by all cameras together. When the bytes run out, the camera holding the most
// gives up its oldest frame, so one busy camera cannot crowd the others out.
package recall
