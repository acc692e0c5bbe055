package publish

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Permissions are what one user of the embedded broker may do once connected. Whatever they
// say, only edged publishes under <prefix>/<device>/ (but for the request topics) and to its
// own Home Assistant discovery configs.
type Permissions struct {
	// Read are the topic filters whose messages the user receives; nil means every topic
	// ("#"). A subscription that overlaps none of them is refused.
	Read []string
	// Write are the topic filters the user may publish to outside edged's topics; nil means
	// every topic ("#").
	Write []string
	// NoRequests refuses the user's ask and search requests (<prefix>/<device>/<camera>/ask,
	// <prefix>/<device>/search).
	NoRequests bool
}

// owner says which topics are edged's: only its own session publishes there.
type owner struct {
	topics          Topics
	discoveryPrefix string
	objectID        string // the device as Home Assistant ids spell it
}

// owns says whether topic is edged's, and whether it is one of edged's request topics, which
// other clients may publish to when permitted.
func (o owner) owns(topic string) (owned, request bool) {
	if strings.HasPrefix(topic, o.topics.Prefix+"/"+o.topics.Device+"/") {
		return true, topic == o.topics.Search() || o.topics.cameraOfAsk(topic) != ""
	}
	rest, ok := strings.CutPrefix(topic, o.discoveryPrefix+"/")
	if !ok {
		return false, false
	}
	levels := strings.Split(rest, "/")
	if levels[len(levels)-1] != "config" {
		return false, false
	}
	for _, l := range levels[1 : len(levels)-1] {
		if l == o.objectID || strings.HasPrefix(l, o.objectID+"_") {
			return true, false
		}
	}
	return false, false
}

// mayWrite says whether a client with p may publish to topic.
func (o owner) mayWrite(p Permissions, topic string) bool {
	if owned, request := o.owns(topic); owned {
		return request && !p.NoRequests
	}
	return p.Write == nil || anyOverlap(p.Write, topic)
}

// mayRead says whether a client with p may subscribe to filter, or receive a message on a
// topic (a filter without wildcards).
func (p Permissions) mayRead(filter string) bool {
	return p.Read == nil || anyOverlap(p.Read, filter)
}

func anyOverlap(filters []string, f string) bool {
	for _, a := range filters {
		if filtersOverlap(a, f) {
			return true
		}
	}
	return false
}

// filtersOverlap says whether some topic matches both MQTT filters (a topic name is a filter
// that matches itself). Wildcards in the first level never match a topic starting with '$'.
func filtersOverlap(a, b string) bool {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; ; i++ {
		switch {
		case i == len(as) && i == len(bs):
			return true
		case i == len(as):
			return bs[i] == "#" // "a/#" matches "a"
		case i == len(bs):
			return as[i] == "#"
		}
		x, y := as[i], bs[i]
		if i == 0 && (isWildcard(x) && strings.HasPrefix(y, "$") || isWildcard(y) && strings.HasPrefix(x, "$")) {
			return false
		}
		switch {
		case x == "#" || y == "#":
			return true
		case x == "+" || y == "+" || x == y:
			continue
		}
		return false
	}
}

func isWildcard(level string) bool { return level == "+" || level == "#" }

// CheckFilter accepts an MQTT topic filter: '#' only as the whole last level, '+' only as a
// whole level.
func CheckFilter(f string) error {
	switch {
	case f == "":
		return errors.New("is empty")
	case !utf8.ValidString(f):
		return errors.New("is not valid UTF-8")
	case strings.ContainsRune(f, 0):
		return fmt.Errorf("%q contains a NUL character", f)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("%q: '#' must be the whole last level", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("%q: '+' must be a whole level", f)
		}
	}
	return nil
}
