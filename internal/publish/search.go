package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"unicode/utf8"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edged/edged/internal/request"
)

// Text search over recent frames, by MQTT:
//
//	<prefix>/<device>/search          subscribed: SearchRequest JSON, or the query as plain text
//	<prefix>/<device>/search/result   SearchResult, or SearchError for a bad or failed request
//
// Search requests share the ask requests' limits: Options.MaxPendingAsks bounds those being
// answered at once and Options.AskTimeout bounds one SearchHandler call.

// Limits of a search request.
const (
	MaxSearchQueryBytes = 300  // CLIP reads 77 tokens; longer text is a mistake
	DefaultSearchK      = 5    // hits when the request names no k
	MaxSearchK          = 50   // the most hits a request may ask for
	searchEnvelopeBytes = 1024 // what a request may carry beyond its query
)

// SearchRequest is the JSON form of a search sent to <prefix>/<device>/search. A plain-text
// payload is the query alone.
type SearchRequest struct {
	Query     string `json:"query"`
	Camera    string `json:"camera,omitempty"` // "" searches every camera
	K         int    `json:"k,omitempty"`      // 0 means DefaultSearchK
	RequestID string `json:"request_id"`
}

// SearchResult is the answer to a search request, best hit first.
type SearchResult struct {
	Ts        Timestamp   `json:"ts"`
	RequestID string      `json:"request_id,omitempty"`
	Query     string      `json:"query"`
	Camera    string      `json:"camera,omitempty"`
	Hits      []SearchHit `json:"hits"`
}

// SearchHit is a recent frame that matches a search. Score orders the hits (for the shapes
// demo and the daemon's default: CLIP's probability of the query against the camera's
// labels).
type SearchHit struct {
	Camera string    `json:"camera"`
	Frame  uint64    `json:"frame"`
	Ts     Timestamp `json:"ts"` // when the frame was captured
	Score  float64   `json:"score"`
	// Similar counts the other recent frames of the camera that are near-copies of this one
	// (the same scene), left out of the hits.
	Similar int `json:"similar"`
}

// SearchError is published on the result topic instead of a SearchResult when a request is
// malformed, too large, or could not be served.
type SearchError struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// SearchHandler finds the recent frames that best match query, best first, on one camera or
// on all ("" camera). It runs on its own goroutine; ctx ends at Options.AskTimeout or
// shutdown. An error (an unknown camera, no CLIP model, ...) goes to the requester as a
// SearchError.
type SearchHandler func(ctx context.Context, query, camera string, k int) ([]SearchHit, error)

// Search is the topic search requests arrive on.
func (t Topics) Search() string { return t.Prefix + "/" + t.Device + "/search" }

// SearchResult is where search results (and search errors) go.
func (t Topics) SearchResult() string { return t.Search() + "/result" }

// parseSearch reads a search payload: a JSON SearchRequest when it starts with '{', otherwise
// the query as plain text. On error the returned request still holds the request_id when it
// could be read, so the error can reach the requester.
func parseSearch(payload []byte) (SearchRequest, error) {
	if err := request.CheckSize(payload, MaxSearchQueryBytes+searchEnvelopeBytes); err != nil {
		return SearchRequest{}, err
	}
	if !utf8.Valid(payload) {
		return SearchRequest{}, errors.New("request is not valid UTF-8")
	}
	trimmed := bytes.TrimSpace(payload)
	var req SearchRequest
	if len(trimmed) > 0 && trimmed[0] == '{' {
		if err := request.DecodeJSON(trimmed, &req); err != nil {
			salvaged := SearchRequest{RequestID: salvageRequest(trimmed).RequestID}
			return salvaged, fmt.Errorf("malformed JSON request: %w", err)
		}
	} else {
		req.Query = string(trimmed)
	}
	q, err := request.Text("query", req.Query, MaxSearchQueryBytes)
	req.Query = q
	switch {
	case err != nil:
		return req, err
	case req.K < 0 || req.K > MaxSearchK:
		return req, fmt.Errorf("k is %d; it must be from 1 to %d (or left out for %d)", req.K, MaxSearchK, DefaultSearchK)
	}
	if req.Camera != "" {
		if err := checkTopicLevel(req.Camera); err != nil {
			return req, fmt.Errorf("camera %v", err)
		}
	}
	if req.K == 0 {
		req.K = DefaultSearchK
	}
	return req, nil
}

// onSearch returns the message handler for the search topic, answering with h. It runs on a
// paho goroutine, so it only parses and hands the work to a goroutine of its own.
func (p *Publisher) onSearch(h SearchHandler) mqtt.MessageHandler {
	return func(_ mqtt.Client, m mqtt.Message) {
		if m.Retained() {
			// A retained request would be served again on every reconnect.
			p.log.Warn("ignoring a retained search request; publish searches without retain", "topic", m.Topic())
			return
		}
		req, err := parseSearch(m.Payload())
		if err == nil {
			err = p.beginAsk() // searches share the ask requests' slots
		}
		if err != nil {
			p.replySearchError(req, err)
			return
		}
		go p.search(h, req)
	}
}

// search runs the handler and queues its result (or error) for the requester.
func (p *Publisher) search(h SearchHandler, req SearchRequest) {
	defer p.asks.Done()
	hits, err := p.callSearchHandler(h, req)
	<-p.askSlots
	if err != nil {
		p.replySearchError(req, err)
		return
	}
	if hits == nil {
		hits = []SearchHit{}
	}
	payload, err := json.Marshal(SearchResult{Ts: Now(), RequestID: req.RequestID, Query: req.Query, Camera: req.Camera, Hits: hits[:min(len(hits), req.K)]})
	if err != nil {
		p.replySearchError(req, fmt.Errorf("cannot encode the result: %w", err))
		return
	}
	if err := p.enqueueReply(p.topics.SearchResult(), payload, false); err != nil {
		p.log.Debug("search result not sent", "request_id", req.RequestID, "err", err)
	}
}

// callSearchHandler calls h with a deadline; a panic in it becomes an error.
func (p *Publisher) callSearchHandler(h SearchHandler, req SearchRequest) (hits []SearchHit, err error) {
	ctx, cancel := context.WithTimeout(p.askCtx, p.opts.AskTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("search handler panicked", "query", req.Query, "panic", r, "stack", string(debug.Stack()))
			err = errors.New("internal error while searching")
		}
	}()
	return h(ctx, req.Query, req.Camera, req.K)
}

// replySearchError answers a request with a SearchError and counts it with the ask errors.
func (p *Publisher) replySearchError(req SearchRequest, cause error) {
	p.askErrors.Add(1)
	p.log.Warn("search request answered with an error", "request_id", req.RequestID, "err", cause)
	payload, err := json.Marshal(SearchError{Error: cause.Error(), RequestID: req.RequestID})
	if err != nil {
		payload = []byte(`{"error":"internal error"}`)
	}
	if err := p.enqueueReply(p.topics.SearchResult(), payload, false); err != nil {
		p.log.Debug("search error not sent", "request_id", req.RequestID, "err", err)
	}
}
