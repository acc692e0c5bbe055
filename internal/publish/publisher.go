package publish

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// ErrClosed is returned by the Publish methods once the publisher has shut down.
var ErrClosed = errors.New("publish: publisher is closed")

// maxPublishAttempts is how often a queued message is tried on a connection that looked up
// before it is given up as failed; a message that keeps breaking the connection (too large
// for the broker, say) must not block the queue forever.
const maxPublishAttempts = 5

// Publisher publishes edged's results to an MQTT broker and answers ask requests. Create it
// with New, start it with Start, stop it with Close. Its methods are safe for concurrent use.
type Publisher struct {
	opts      Options
	log       *slog.Logger
	brokerLog *slog.Logger // the embedded broker's: a component of its own, not mqtt's
	topics    Topics
	password  string
	tlsConfig *tls.Config
	queue     *queue // results
	replies   *queue // answers to asks and searches: a burst of requests never evicts results
	// repliesFirst says which queue the sender tries first next: it alternates, so neither
	// starves the other.
	repliesFirst bool

	link atomic.Pointer[link] // the connection results go out on; nil while down

	wake       chan struct{} // the queue grew or the connection came up (sender)
	rediscover chan struct{} // Home Assistant came online or the cameras changed (supervisor)

	mu         sync.Mutex
	started    bool
	cameras    []Camera
	camOnline  map[string]bool // each camera's availability, as last set
	asksClosed bool
	lastErr    string
	dropWarned bool // a full-queue warning was logged since the last connection

	announced map[string]bool // discovery topics published; supervisor goroutine only

	// states are the retained states as last queued, by topic (states.go); present the
	// labels of each camera's set whose events are open, by camera and set. Guarded by mu.
	states  map[string][]byte
	present map[string]map[string]bool
	// record is what an earlier run announced (Options.StateDir); tidied says it has been
	// cleared of what this run does not announce. Supervisor goroutine only.
	record      record
	recordFound bool
	tidied      bool

	askSlots  chan struct{} // one token per ask being answered
	asks      sync.WaitGroup
	askCtx    context.Context
	askCancel context.CancelFunc

	broker     *Broker       // the embedded broker, when Options.Broker is "embedded"
	stop       chan struct{} // closed to begin shutdown
	stopOnce   sync.Once
	done       chan struct{} // closed when the supervisor has shut everything down
	drain      chan struct{} // closed to tell the sender to flush the queue and exit
	halt       chan struct{} // closed to tell the sender to exit now
	senderDone chan struct{}
	closed     atomic.Bool // results are no longer accepted

	published, failed, dropped, repliesDropped, askErrors, connects atomic.Uint64
}

// link is one MQTT connection.
type link struct {
	client mqtt.Client
	lost   chan error // receives the reason when paho reports the connection lost
}

// Stats are the publisher's counters and state, for the metrics endpoint.
type Stats struct {
	Published uint64 // results, answers and ask errors the broker accepted
	Failed    uint64 // messages given up after repeated publish errors
	Queued    int    // messages waiting to be sent now
	Dropped   uint64 // results dropped from a full queue (oldest first) or unsent at Close
	// RepliesDropped counts answers to ask and search requests dropped from their own full
	// queue or unsent at Close.
	RepliesDropped uint64
	AskErrors      uint64 // ask requests answered with an error
	Connected      bool
	Connects       uint64 // successful connections so far
	LastError      string // the last connection error; "" while connected
	// BrokerDropped counts messages the embedded broker did not deliver to a subscriber
	// that was too slow to take them (its bounds on pending writes and unacknowledged
	// messages per client); 0 without an embedded broker.
	BrokerDropped uint64
}

// New checks the options, reads the password and TLS files they name, and returns a
// Publisher that is not yet connected. A nil logger means slog.Default().
func New(opts Options, logger *slog.Logger) (*Publisher, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	password, err := opts.password()
	if err != nil {
		return nil, err
	}
	tlsConfig, err := opts.tlsConfig()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	p := &Publisher{
		opts:       opts,
		log:        logger.With("component", "mqtt"),
		brokerLog:  logger,
		topics:     Topics{Prefix: opts.TopicPrefix, Device: opts.Device},
		password:   password,
		tlsConfig:  tlsConfig,
		queue:      newQueue(opts.QueueSize, opts.QueueBytes),
		replies:    newQueue(replyQueueSize, replyQueueBytes),
		wake:       make(chan struct{}, 1),
		rediscover: make(chan struct{}, 1),
		cameras:    slices.Clone(opts.Cameras),
		announced:  make(map[string]bool),
		askSlots:   make(chan struct{}, opts.MaxPendingAsks),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		drain:      make(chan struct{}),
		halt:       make(chan struct{}),
		senderDone: make(chan struct{}),
		states:     map[string][]byte{},
		present:    map[string]map[string]bool{},
	}
	if p.record, p.recordFound, err = loadRecord(opts.StateDir); err != nil {
		p.log.Warn("cannot read what an earlier run announced; it will not be cleared", "err", err)
	}
	if err := p.initialStatesLocked(nil, p.cameras); err != nil {
		return nil, err
	}
	return p, nil
}

// Topics is the publisher's topic layout.
func (p *Publisher) Topics() Topics { return p.topics }

// BrokerURL is the broker the publisher connects to (the embedded one's tcp:// address
// once started).
func (p *Publisher) BrokerURL() string {
	if p.broker != nil {
		return p.broker.URL()
	}
	if addr, err := BrokerAddress(p.opts.Broker); err == nil {
		return addr
	}
	return p.opts.Broker // validated by New: never here
}

// Start starts the embedded broker when configured, then connects in the background: it does
// not wait for the broker, and an unreachable broker is retried with backoff for as long as
// the publisher runs. Cancelling ctx shuts the publisher down as Close does; call Close
// anyway to wait for that.
func (p *Publisher) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return errors.New("publish: Start called twice")
	}
	select {
	case <-p.stop:
		return errors.New("publish: Start after Close")
	default:
	}
	if p.opts.Broker == EmbeddedBroker {
		cfg := p.opts.Embedded
		cfg.ClientID, cfg.Topics, cfg.DiscoveryPrefix = p.opts.ClientID, p.topics, p.opts.HomeAssistant.DiscoveryPrefix
		b, err := StartBroker(p.opts.Listen, cfg, p.brokerLog)
		if err != nil {
			return err
		}
		p.broker = b
	}
	p.started = true
	p.askCtx, p.askCancel = context.WithCancel(ctx)
	go p.supervise()
	go p.send()
	go func() {
		select {
		case <-ctx.Done():
			p.beginShutdown()
		case <-p.done:
		}
	}()
	return nil
}

// Close publishes what is queued (within Options.DrainTimeout), publishes `stopped` on the
// availability topic, disconnects, and stops the embedded broker. It is safe to call more
// than once.
func (p *Publisher) Close() error {
	p.beginShutdown()
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	if !started {
		p.closed.Store(true)
		return nil
	}
	<-p.done
	if p.broker != nil {
		return p.broker.Close()
	}
	return nil
}

func (p *Publisher) beginShutdown() { p.stopOnce.Do(func() { close(p.stop) }) }

// Stats returns a snapshot of the counters and connection state.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	lastErr, broker := p.lastErr, p.broker
	p.mu.Unlock()
	var brokerDropped uint64
	if broker != nil {
		brokerDropped = broker.Dropped()
	}
	return Stats{
		Published:      p.published.Load(),
		Failed:         p.failed.Load(),
		Queued:         p.queue.Len() + p.replies.Len(),
		Dropped:        p.dropped.Load(),
		RepliesDropped: p.repliesDropped.Load(),
		AskErrors:      p.askErrors.Load(),
		Connected:      p.link.Load() != nil,
		Connects:       p.connects.Load(),
		LastError:      lastErr,
		BrokerDropped:  brokerDropped,
	}
}

// PublishLabels queues a camera's labels for <camera>/labels.
func (p *Publisher) PublishLabels(camera string, l Labels) error {
	if l.Ts.IsZero() {
		l.Ts = Now()
	}
	if l.Labels == nil {
		l.Labels = []Label{} // [] rather than null: consumers index it
	}
	return p.publishJSON(camera, "labels", p.topics.Labels(camera), l, p.opts.Retain.Labels)
}

// PublishEvent queues a label start or end event for <camera>/events.
func (p *Publisher) PublishEvent(camera string, e Event) error {
	if e.Type != EventStart && e.Type != EventEnd {
		return fmt.Errorf("publish: event for camera %q: type %q is not %q or %q", camera, e.Type, EventStart, EventEnd)
	}
	if err := p.publishJSON(camera, "event", p.topics.Events(camera), e, false); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.labelEventLocked(camera, e)
}

// PublishCaption queues a caption for <camera>/caption.
func (p *Publisher) PublishCaption(camera string, c Caption) error {
	if c.Ts.IsZero() {
		c.Ts = Now()
	}
	return p.publishJSON(camera, "caption", p.topics.Caption(camera), c, p.opts.Retain.Caption)
}

// PublishAnswer queues an answer (to a standing question, say) for <camera>/answer.
func (p *Publisher) PublishAnswer(camera string, a Answer) error {
	if a.Ts.IsZero() {
		a.Ts = Now()
	}
	if err := p.publishJSON(camera, "answer", p.topics.Answer(camera), a, p.opts.Retain.Answer); err != nil {
		return err
	}
	if a.RequestID != "" {
		return nil // an ask's answer, not a standing question's
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.standingAnswerLocked(camera, a)
}

// PublishSnapshot queues JPEG bytes for <camera>/snapshot, retained: the last snapshot is
// what Home Assistant's camera entity shows, after its restart too.
func (p *Publisher) PublishSnapshot(camera string, jpeg []byte) error {
	if err := checkTopicLevel(camera); err != nil {
		return fmt.Errorf("publish: snapshot: camera name %v", err)
	}
	if len(jpeg) == 0 {
		return fmt.Errorf("publish: snapshot for camera %q is empty", camera)
	}
	return p.enqueue(p.topics.Snapshot(camera), slices.Clone(jpeg), true)
}

// SetCameraAvailable says whether a camera delivers frames: "online" or "offline" on
// <camera>/available, retained, queued in order with the results, and published again after
// every connection to the broker (which may have lost it). Setting what is already set does
// nothing.
func (p *Publisher) SetCameraAvailable(camera string, online bool) error {
	if err := checkTopicLevel(camera); err != nil {
		return fmt.Errorf("publish: camera availability: camera name %v", err)
	}
	p.mu.Lock()
	if p.camOnline == nil {
		p.camOnline = map[string]bool{}
	}
	was, known := p.camOnline[camera]
	p.camOnline[camera] = online
	p.mu.Unlock()
	if known && was == online {
		return nil
	}
	return p.enqueue(p.topics.CameraAvailable(camera), []byte(availability(online)), true)
}

func availability(online bool) string {
	if online {
		return availableOnline
	}
	return availableOffline
}

// SetCameras replaces the cameras announced to Home Assistant (on a config reload, say);
// entities of cameras or labels no longer present are removed from Home Assistant.
func (p *Publisher) SetCameras(cameras []Camera) error {
	for _, c := range cameras {
		if err := c.validate(); err != nil {
			return err
		}
	}
	p.mu.Lock()
	was := p.cameras
	p.cameras = slices.Clone(cameras)
	err := p.initialStatesLocked(was, p.cameras)
	p.mu.Unlock()
	notify(p.rediscover)
	return err
}

func (p *Publisher) publishJSON(camera, kind, topic string, v any, retain bool) error {
	if err := checkTopicLevel(camera); err != nil {
		return fmt.Errorf("publish: %s: camera name %v", kind, err)
	}
	payload, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("publish: %s for camera %q: %w", kind, camera, err)
	}
	return p.enqueue(topic, payload, retain)
}

// enqueue hands a result to the sender; it never blocks on the network.
func (p *Publisher) enqueue(topic string, payload []byte, retain bool) error {
	dropped, err := p.push(p.queue, topic, payload, retain)
	if dropped > 0 {
		p.dropped.Add(uint64(dropped))
		p.mu.Lock()
		warn := !p.dropWarned
		p.dropWarned = true
		p.mu.Unlock()
		if warn {
			p.log.Warn("queue full: dropping the oldest results until the broker takes them",
				"queue_size", p.opts.QueueSize, "queue_bytes", p.opts.QueueBytes)
		}
	}
	return err
}

// enqueueReply hands an answer to an ask or search request to the sender, in the replies'
// own queue.
func (p *Publisher) enqueueReply(topic string, payload []byte, retain bool) error {
	dropped, err := p.push(p.replies, topic, payload, retain)
	if dropped > 0 {
		p.repliesDropped.Add(uint64(dropped))
		p.log.Warn("reply queue full: dropped the oldest replies", "dropped", dropped, "queue_size", replyQueueSize)
	}
	return err
}

// push queues a message on q and wakes the sender; it returns how many older messages q
// dropped to make room.
func (p *Publisher) push(q *queue, topic string, payload []byte, retain bool) (dropped int, err error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	if err := p.checkSize(topic, payload); err != nil {
		return 0, err
	}
	dropped = q.push(message{topic: topic, payload: payload, retain: retain})
	notify(p.wake)
	return dropped, nil
}

// The replies' queue: enough for a burst of requests refused as busy, each answered on the
// answer topic and its reply_to.
const (
	replyQueueSize  = 4096
	replyQueueBytes = 4 << 20
)

// checkSize refuses a message the embedded broker would refuse: it would close edged's
// connection instead.
func (p *Publisher) checkSize(topic string, payload []byte) error {
	if p.opts.Broker != EmbeddedBroker {
		return nil
	}
	const header = 16 // fixed header, topic length, packet id
	limit := p.opts.Embedded.withDefaults().MaxPacketBytes
	if n := len(topic) + len(payload) + header; n > limit {
		return fmt.Errorf("publish: %s: %d bytes, over the embedded broker's max_packet_bytes %d", topic, n, limit)
	}
	return nil
}

// notify wakes a goroutine waiting on ch without ever blocking.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// send is the one goroutine that publishes queued messages, in order, while connected.
func (p *Publisher) send() {
	defer close(p.senderDone)
	drain := p.drain
	draining := false
	for {
		select {
		case <-p.halt:
			return
		default:
		}
		l := p.link.Load()
		if l != nil {
			if q, m, ok := p.next(); ok {
				p.sendOne(l, q, m)
				continue
			}
		}
		if draining {
			return // queue empty, or no connection to empty it on
		}
		select {
		case <-p.wake:
		case <-drain:
			draining, drain = true, nil
		case <-p.halt:
			return
		}
	}
}

// next takes the next message to send, from the results and the replies in turn.
func (p *Publisher) next() (*queue, message, bool) {
	first, second := p.queue, p.replies
	if p.repliesFirst {
		first, second = second, first
	}
	p.repliesFirst = !p.repliesFirst
	if m, ok := first.pop(); ok {
		return first, m, true
	}
	m, ok := second.pop()
	return second, m, ok
}

// sendOne publishes m and waits for the broker to take it; on failure m goes back to the
// head of its queue q, so order is kept and nothing is lost to a dropped connection.
func (p *Publisher) sendOne(l *link, q *queue, m message) {
	err := p.await(l.client.Publish(m.topic, byte(p.opts.QoS), m.retain, m.payload))
	if err == nil {
		p.published.Add(1)
		return
	}
	m.attempts++
	if m.attempts >= maxPublishAttempts {
		p.failed.Add(1)
		p.log.Error("giving up on a message after repeated publish errors",
			"topic", m.topic, "bytes", len(m.payload), "attempts", m.attempts, "err", err)
		return
	}
	p.log.Warn("publish failed; will retry", "topic", m.topic, "attempt", m.attempts, "err", err)
	if q.pushFront(m) {
		if q == p.replies {
			p.repliesDropped.Add(1)
		} else {
			p.dropped.Add(1)
		}
	}
	// Let paho's connection-lost report arrive before retrying, rather than spinning.
	t := time.NewTimer(p.opts.BackoffMin)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.halt:
	}
}

// await waits for a paho token within PublishTimeout.
func (p *Publisher) await(t mqtt.Token) error {
	if !t.WaitTimeout(p.opts.PublishTimeout) {
		return fmt.Errorf("no acknowledgement from the broker within %v", p.opts.PublishTimeout)
	}
	return t.Error()
}

// supervise owns the connection: it connects, re-connects with backoff, announces the
// device, and finally shuts everything down.
func (p *Publisher) supervise() {
	defer close(p.done)
	failures := 0
	for {
		l, err := p.connect()
		if errors.Is(err, errStopping) {
			p.finish(nil)
			return
		}
		if err != nil {
			failures++
			delay := p.backoff(failures)
			p.setLastError(err)
			p.log.Error("cannot connect to the MQTT broker; will retry", "broker", p.BrokerURL(),
				"attempt", failures, "retry_in", delay.Round(time.Millisecond), "err", describeConnectError(err))
			if !p.pause(delay) {
				p.finish(nil)
				return
			}
			continue
		}
		failures = 0
		p.online(l)
		if !p.whileConnected(l) {
			return
		}
		if !p.pause(p.backoff(0)) {
			p.finish(nil)
			return
		}
	}
}

var errStopping = errors.New("publisher is stopping")

// connect makes one connection attempt with a fresh paho client.
func (p *Publisher) connect() (*link, error) {
	l := &link{lost: make(chan error, 1)}
	co := mqtt.NewClientOptions().
		AddBroker(p.BrokerURL()).
		SetClientID(p.opts.ClientID).
		SetUsername(p.opts.Username).
		SetPassword(p.password).
		SetCleanSession(true).
		SetAutoReconnect(false). // supervise reconnects, with our backoff and logging
		SetConnectRetry(false).
		SetOrderMatters(false). // message handlers must not hold up paho's goroutines
		SetKeepAlive(p.opts.KeepAlive).
		SetConnectTimeout(p.opts.ConnectTimeout).
		SetWriteTimeout(p.opts.PublishTimeout).
		SetBinaryWill(p.topics.Available(), []byte(availableOffline), byte(p.opts.QoS), true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case l.lost <- err:
			default:
			}
		})
	if p.broker != nil {
		// edged's own session reaches its broker through memory: the one way to its client
		// id and topics.
		co.SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) { return p.broker.dialInternal() })
	} else if p.tlsConfig != nil {
		co.SetTLSConfig(p.tlsConfig)
	}
	l.client = mqtt.NewClient(co)
	t := l.client.Connect()
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return nil, err
		}
		return l, nil
	case <-p.stop:
		l.client.Disconnect(0) // abandons the attempt; never announced, so nothing to undo
		return nil, errStopping
	}
}

// online runs after each connection: subscribe, announce availability and discovery, then
// let the sender flush the queue (so `online` always precedes queued results).
func (p *Publisher) online(l *link) {
	p.connects.Add(1)
	p.setLastError(nil)
	if p.opts.AskHandler != nil {
		p.subscribe(l, p.topics.askFilter(), p.onAsk)
	}
	if p.opts.SearchHandler != nil {
		p.subscribe(l, p.topics.Search(), p.onSearch(p.opts.SearchHandler))
	}
	if p.opts.HomeAssistant.Enabled {
		p.subscribe(l, p.opts.HomeAssistant.DiscoveryPrefix+"/status", p.onHomeAssistantStatus)
	}
	if err := p.await(l.client.Publish(p.topics.Available(), byte(p.opts.QoS), true, availableOnline)); err != nil {
		p.log.Error("cannot publish availability", "topic", p.topics.Available(), "err", err)
	}
	p.mu.Lock()
	cams := maps.Clone(p.camOnline)
	p.mu.Unlock()
	for _, cam := range slices.Sorted(maps.Keys(cams)) {
		topic := p.topics.CameraAvailable(cam)
		if err := p.await(l.client.Publish(topic, byte(p.opts.QoS), true, availability(cams[cam]))); err != nil {
			p.log.Error("cannot publish availability", "topic", topic, "err", err)
		}
	}
	p.resendStates(l)
	configs := p.discoveryConfigs()
	if !p.tidied {
		p.tidy(l, configs)
		p.tidied = true
	}
	if p.opts.HomeAssistant.Enabled {
		p.announce(l, configs) // every config again: the broker may have lost them
	}
	p.saveRecord()
	p.mu.Lock()
	p.dropWarned = false
	p.mu.Unlock()
	p.link.Store(l)
	notify(p.wake)
	p.log.Info("connected to the MQTT broker", "broker", p.BrokerURL(), "queued", p.queue.Len()+p.replies.Len(),
		"dropped_so_far", p.dropped.Load())
}

func (p *Publisher) subscribe(l *link, filter string, h mqtt.MessageHandler) {
	t := l.client.Subscribe(filter, byte(p.opts.QoS), h)
	err := p.await(t)
	if err == nil {
		if st, ok := t.(*mqtt.SubscribeToken); ok && st.Result()[filter] == 0x80 {
			err = errors.New("the broker refused the subscription")
		}
	}
	if err != nil {
		p.log.Error("cannot subscribe", "topic", filter, "err", err)
	}
}

// whileConnected serves one connection until it is lost (true: reconnect) or the publisher
// stops (false: finished).
func (p *Publisher) whileConnected(l *link) bool {
	for {
		select {
		case err := <-l.lost:
			p.link.Store(nil)
			p.setLastError(err)
			p.log.Warn("lost the MQTT broker; reconnecting", "broker", p.BrokerURL(), "err", err,
				"queued", p.queue.Len())
			return true
		case <-p.rediscover:
			if p.opts.HomeAssistant.Enabled {
				p.announce(l, p.discoveryConfigs())
			}
			p.saveRecord()
		case <-p.stop:
			p.finish(l)
			return false
		}
	}
}

// discoveryConfigs are the Home Assistant discovery configs of the cameras; nil without
// discovery (or when they cannot be built: the error is logged).
func (p *Publisher) discoveryConfigs() map[string][]byte {
	if !p.opts.HomeAssistant.Enabled {
		return nil
	}
	p.mu.Lock()
	cameras := slices.Clone(p.cameras)
	p.mu.Unlock()
	configs, err := discoveryConfigs(&p.opts, p.topics, cameras)
	if err != nil {
		p.log.Error("cannot build Home Assistant discovery configs", "err", err)
		return nil
	}
	return configs
}

// announce publishes the Home Assistant discovery configs, and empty retained configs for
// entities that are gone.
func (p *Publisher) announce(l *link, configs map[string][]byte) {
	if configs == nil {
		return
	}
	for topic := range p.announced {
		if _, ok := configs[topic]; !ok {
			if err := p.await(l.client.Publish(topic, byte(p.opts.QoS), true, []byte{})); err != nil {
				p.log.Error("cannot remove Home Assistant discovery config", "topic", topic, "err", err)
				continue
			}
			delete(p.announced, topic)
		}
	}
	for _, topic := range slices.Sorted(maps.Keys(configs)) {
		if err := p.await(l.client.Publish(topic, byte(p.opts.QoS), true, configs[topic])); err != nil {
			p.log.Error("cannot publish Home Assistant discovery config", "topic", topic, "err", err)
			continue
		}
		p.announced[topic] = true
	}
	p.log.Debug("announced to Home Assistant", "configs", len(configs))
}

// onHomeAssistantStatus re-announces when Home Assistant (re)starts.
func (p *Publisher) onHomeAssistantStatus(_ mqtt.Client, m mqtt.Message) {
	if string(m.Payload()) == "online" {
		notify(p.rediscover)
	}
}

// finish shuts down: pending asks are cancelled, the queue is flushed within DrainTimeout
// if l is connected, `stopped` is published and the connection closed.
func (p *Publisher) finish(l *link) {
	p.mu.Lock()
	p.asksClosed = true
	p.mu.Unlock()
	if p.askCancel != nil {
		p.askCancel()
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), p.opts.DrainTimeout)
	defer cancel()
	asksDone := make(chan struct{})
	go func() { p.asks.Wait(); close(asksDone) }()
	select {
	case <-asksDone:
	case <-drainCtx.Done():
		p.log.Warn("ask handlers still running at shutdown; their answers will not be sent")
	}
	p.closed.Store(true)

	close(p.drain)
	select {
	case <-p.senderDone:
	case <-drainCtx.Done():
	}
	close(p.halt)
	<-p.senderDone
	if n := p.queue.clear(); n > 0 {
		p.dropped.Add(uint64(n))
		p.log.Warn("results not delivered at shutdown", "count", n)
	}
	if n := p.replies.clear(); n > 0 {
		p.repliesDropped.Add(uint64(n))
		p.log.Warn("replies not delivered at shutdown", "count", n)
	}
	p.link.Store(nil)
	if l == nil {
		return
	}
	if err := p.await(l.client.Publish(p.topics.Available(), byte(p.opts.QoS), true, availableStopped)); err != nil {
		p.log.Error("cannot publish availability", "topic", p.topics.Available(), "err", err)
	}
	l.client.Disconnect(250)
	p.log.Info("disconnected from the MQTT broker", "broker", p.BrokerURL())
}

// pause waits d, or returns false at once if the publisher is stopping.
func (p *Publisher) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.stop:
		return false
	}
}

// backoff is the wait before reconnect attempt n+1: BackoffMin doubled per failure up to
// BackoffMax, with ±20% jitter so a fleet of devices does not reconnect in lockstep.
func (p *Publisher) backoff(failures int) time.Duration {
	d := p.opts.BackoffMin
	for i := 1; i < failures && d < p.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, p.opts.BackoffMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func (p *Publisher) setLastError(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		p.lastErr = ""
	} else {
		p.lastErr = describeConnectError(err)
	}
}

// describeConnectError says what a refused connection means for the user.
func describeConnectError(err error) string {
	switch {
	case errors.Is(err, packets.ErrorRefusedNotAuthorised), errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
		return "the broker refused the credentials (check username and password): " + err.Error()
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return "the broker rejected the client id (check client_id): " + err.Error()
	}
	return err.Error()
}

// onAsk receives a question. It runs on a paho goroutine, so it only parses and hands the
// work to a goroutine of its own.
func (p *Publisher) onAsk(_ mqtt.Client, m mqtt.Message) {
	if m.Retained() {
		// A retained question would be answered again on every reconnect.
		p.log.Warn("ignoring a retained ask request; publish questions without retain", "topic", m.Topic())
		return
	}
	camera := p.topics.cameraOfAsk(m.Topic())
	if camera == "" {
		return
	}
	req, err := parseAsk(m.Payload(), p.opts.MaxAskBytes)
	if err == nil && req.ReplyTo != "" {
		if err = p.checkReplyTo(req.ReplyTo); err != nil {
			req.ReplyTo = ""
		}
	}
	if err != nil {
		p.replyError(camera, req, err)
		return
	}
	if err := p.beginAsk(); err != nil {
		p.replyError(camera, req, err)
		return
	}
	go p.answer(camera, req)
}

// checkReplyTo accepts a reply_to under <prefix>/<device>/reply/ or under one of
// Options.ReplyPrefixes, so a request cannot make edged publish on another device's topics,
// its own availability or Home Assistant's discovery configs.
func (p *Publisher) checkReplyTo(topic string) error {
	if strings.HasPrefix(topic, p.topics.Reply()+"/") {
		return nil
	}
	for _, prefix := range p.opts.ReplyPrefixes {
		if strings.HasPrefix(topic, prefix+"/") {
			return nil
		}
	}
	allowed := append([]string{p.topics.Reply()}, p.opts.ReplyPrefixes...)
	return fmt.Errorf("reply_to %q is outside the reply topics (%s/...)", topic, strings.Join(allowed, "/..., "))
}

// beginAsk takes a slot for one ask, or says why there is none.
func (p *Publisher) beginAsk() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.asksClosed {
		return errors.New("shutting down")
	}
	select {
	case p.askSlots <- struct{}{}:
	default:
		return fmt.Errorf("busy: %d questions already pending, try again later", p.opts.MaxPendingAsks)
	}
	p.asks.Add(1)
	return nil
}

// answer runs the AskHandler and queues its answer (or error) for the asker.
func (p *Publisher) answer(camera string, req AskRequest) {
	defer p.asks.Done()
	ans, err := p.callAskHandler(camera, req)
	<-p.askSlots // the slot bounds running handlers; replying needs none
	if err != nil {
		p.replyError(camera, req, err)
		return
	}
	if ans.Ts.IsZero() {
		ans.Ts = Now()
	}
	if ans.Question == "" {
		ans.Question = req.Question
	}
	if ans.RequestID == "" {
		ans.RequestID = req.RequestID
	}
	payload, err := json.Marshal(ans)
	if err != nil {
		p.replyError(camera, req, fmt.Errorf("cannot encode the answer: %w", err))
		return
	}
	p.reply(camera, req, payload, p.opts.Retain.Answer)
}

// callAskHandler calls the handler with a deadline; a panic in it becomes an error, so one
// bad question cannot take the daemon down.
func (p *Publisher) callAskHandler(camera string, req AskRequest) (ans Answer, err error) {
	ctx, cancel := context.WithTimeout(p.askCtx, p.opts.AskTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("ask handler panicked", "camera", camera, "panic", r, "stack", string(debug.Stack()))
			err = errors.New("internal error while answering")
		}
	}()
	return p.opts.AskHandler(ctx, camera, req.Question, req.RequestID)
}

// replyError answers a request with an AskError and counts it.
func (p *Publisher) replyError(camera string, req AskRequest, cause error) {
	p.askErrors.Add(1)
	p.log.Warn("ask request answered with an error", "camera", camera, "request_id", req.RequestID, "err", cause)
	payload, err := json.Marshal(AskError{Error: cause.Error(), RequestID: req.RequestID})
	if err != nil { // cannot happen for two strings; never drop the asker silently
		payload = []byte(`{"error":"internal error"}`)
	}
	p.reply(camera, req, payload, false)
}

// reply queues payload on the camera's answer topic and on the request's reply_to.
func (p *Publisher) reply(camera string, req AskRequest, payload []byte, retain bool) {
	if err := p.enqueueReply(p.topics.Answer(camera), payload, retain); err != nil {
		p.log.Debug("answer not sent", "camera", camera, "request_id", req.RequestID, "err", err)
		return
	}
	if req.ReplyTo != "" {
		_ = p.enqueueReply(req.ReplyTo, payload, false)
	}
}
