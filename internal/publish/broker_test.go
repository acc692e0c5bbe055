package publish

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/edged/edged/internal/mqtttest"
	"github.com/edged/edged/internal/userfile"
)

// dial connects a test client and returns the broker's refusal instead of failing the test.
func dial(t *testing.T, url string, o *mqtt.ClientOptions, rec *mqtttest.Recorder) (mqtt.Client, error) {
	t.Helper()
	o.AddBroker(url).SetAutoReconnect(false).SetConnectRetry(false).SetOrderMatters(true)
	if rec != nil {
		o.SetDefaultPublishHandler(rec.Handle)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(waitTimeout) {
		t.Fatalf("client %s: no CONNACK within %v", o.ClientID, waitTimeout)
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}

func clientOpts(id, user, password string) *mqtt.ClientOptions {
	return mqtt.NewClientOptions().SetClientID(id).SetUsername(user).SetPassword(password)
}

// subscribeResult subscribes and returns the broker's granted QoS (0x80: refused).
func subscribeResult(t *testing.T, c mqtt.Client, filter string) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*mqtt.SubscribeToken).Result()[filter]
}

func usersFile(t *testing.T, users map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users")
	for name, password := range users {
		if err := userfile.SetPassword(path, name, password); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestFiltersOverlap(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"#", "edged/dev/available", true}, {"edged/#", "edged", true}, {"edged/#", "edgedx/a", false},
		{"edged/+/cam/labels", "edged/dev/cam/labels", true}, {"edged/+/cam/labels", "edged/dev/cam/caption", false},
		{"edged/+/cam/labels", "#", true}, {"edged/+/cam/labels", "edged/dev/#", true}, {"a/+", "a/b/c", false},
		{"#", "$SYS/broker/uptime", false}, {"+/broker", "$SYS/broker", false}, {"$SYS/#", "$SYS/broker", true},
		{"a/b", "a/b", true}, {"a/b", "a/c", false}, {"a/+/c", "a/b/+", true},
	} {
		if got := filtersOverlap(c.a, c.b); got != c.want {
			t.Errorf("filtersOverlap(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := filtersOverlap(c.b, c.a); got != c.want {
			t.Errorf("filtersOverlap(%q, %q) = %v, want %v", c.b, c.a, got, c.want)
		}
	}
}

func TestOwnerTopics(t *testing.T) {
	o := owner{topics: Topics{Prefix: "edged", Device: "dev"}, discoveryPrefix: "homeassistant", objectID: "dev"}
	for topic, want := range map[string][2]bool{
		"edged/dev/available":                       {true, false},
		"edged/dev/cam/labels":                      {true, false},
		"edged/dev/cam/ask":                         {true, true},
		"edged/dev/search":                          {true, true},
		"edged/dev/search/result":                   {true, false},
		"edged/dev/reply/x":                         {true, false},
		"edged/dev/a/b/ask":                         {true, false},
		"edged/other/cam/labels":                    {false, false},
		"homeassistant/sensor/dev_cam_label/config": {true, false},
		"homeassistant/sensor/devx_cam/config":      {false, false},
		"homeassistant/status":                      {false, false},
		"app/replies":                               {false, false},
	} {
		owned, request := o.owns(topic)
		if [2]bool{owned, request} != want {
			t.Errorf("owns(%q) = %v, %v; want %v", topic, owned, request, want)
		}
	}
}

// The embedded broker with a users file: who may connect, and what each user may read and
// write; edged's own session and topics stay its own.
func TestEmbeddedBrokerAuthAndACL(t *testing.T) {
	users := usersFile(t, map[string]string{"ha": "ha-pw", "viewer": "viewer-pw", "admin": "admin-pw"})
	p, logs := startPublisher(t, Options{Broker: EmbeddedBroker, Listen: "127.0.0.1:0", Device: "sec", QoS: 1,
		AskHandler: askHandler(nil), HomeAssistant: HomeAssistant{Enabled: true},
		Cameras: []Camera{{Name: "cam", EventLabels: []string{"cat"}}},
		Embedded: BrokerConfig{UsersFile: users, Users: map[string]Permissions{
			"ha":     {Read: []string{"edged/#", "homeassistant/#"}},
			"viewer": {Read: []string{"edged/+/cam/labels"}, Write: []string{"viewer/#"}, NoRequests: true},
		}}})
	waitConnected(t, p)
	url, tp := p.BrokerURL(), p.Topics()

	// Refused: no user name, a wrong password, an unknown user, edged's own client id.
	for _, c := range []struct {
		name string
		o    *mqtt.ClientOptions
	}{
		{"anonymous", clientOpts("anon", "", "")},
		{"wrong password", clientOpts("wrong", "ha", "nope")},
		{"unknown user", clientOpts("unknown", "eve", "ha-pw")},
		{"edged's client id", clientOpts("edged-sec", "admin", "admin-pw")},
		{"a will on edged's availability", clientOpts("will", "admin", "admin-pw").SetWill(tp.Available(), "offline", 1, true)},
	} {
		// paho retries a refusal with MQTT 3.1, whose return code for it is "not authorised".
		if _, err := dial(t, url, c.o, nil); !errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) && !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
			t.Errorf("%s: connect error %v, want a refusal", c.name, err)
		}
	}
	if p.Stats().Connects != 1 || !p.Stats().Connected {
		t.Errorf("edged's session after the takeover attempt: %+v, want still the first connection", p.Stats())
	}
	if logs.Count("refused") == 0 {
		t.Error("refused clients are not logged")
	}

	admin := mqtttest.NewRecorder()
	ac, err := dial(t, url, clientOpts("admin", "admin", "admin-pw"), admin)
	if err != nil {
		t.Fatal(err)
	}
	if got := subscribeResult(t, ac, "#"); got != 1 {
		t.Fatalf("admin's subscription to # granted %#x", got)
	}
	admin.WaitOn(t, tp.Available(), "online", func(m mqtttest.Message) bool { return m.Payload == "online" })

	// No one but edged writes its topics, whatever their permissions: a fake retained
	// "offline", fake labels and a fake discovery config are dropped, while a request and a
	// publish elsewhere go through.
	ha := mqtttest.NewRecorder()
	hc, err := dial(t, url, clientOpts("ha", "ha", "ha-pw"), ha)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{tp.Available(), tp.Labels("cam"), tp.Reply() + "/x", "homeassistant/sensor/sec_cam_top_label/config"} {
		if tok := hc.Publish(topic, 0, true, "fake"); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	mqtttest.Publish(t, hc, tp.Ask("cam"), false, `{"question":"from ha","request_id":"ha-1"}`)
	admin.WaitFor(t, 0, "the answer to ha's ask", byRequestID("ha-1"))
	mqtttest.Publish(t, hc, "homeassistant/status", false, "online")
	admin.WaitOn(t, "homeassistant/status", "ha's own status", nil)
	mqtttest.Barrier(t, admin, ac)
	if slices.ContainsFunc(admin.All(), func(m mqtttest.Message) bool { return m.Payload == "fake" }) {
		t.Errorf("a forged message on edged's topics was delivered: %v", admin.All())
	}
	// A QoS 1 publish on edged's topics is refused: an MQTT 3.1.1 client is disconnected.
	tok := hc.Publish(tp.Available(), 1, true, "fake")
	tok.WaitTimeout(waitTimeout)
	eventually(t, "ha to be disconnected for a QoS 1 publish on edged's availability", func() bool { return !hc.IsConnected() })

	// Read permissions: a subscription outside them is refused, one that overlaps them gets
	// only what they allow.
	viewer := mqtttest.NewRecorder()
	vc, err := dial(t, url, clientOpts("viewer", "viewer", "viewer-pw"), viewer)
	if err != nil {
		t.Fatal(err)
	}
	if got := subscribeResult(t, vc, "homeassistant/#"); got != 0x80 {
		t.Errorf("viewer's subscription to homeassistant/# granted %#x, want refused (0x80)", got)
	}
	if got := subscribeResult(t, vc, "edged/#"); got != 1 {
		t.Errorf("viewer's subscription to edged/# granted %#x, want 1 (overlaps its read filter)", got)
	}
	if err := p.PublishCaption("cam", Caption{Frame: 1, Caption: "hidden"}); err != nil {
		t.Fatal(err)
	}
	if err := p.PublishLabels("cam", Labels{Frame: 2, LabelSet: "s", Labels: []Label{{Label: "cat", Score: 1}}}); err != nil {
		t.Fatal(err)
	}
	viewer.WaitTopic(t, 0, tp.Labels("cam"))
	admin.WaitTopic(t, 0, tp.Caption("cam"))
	// The viewer may not ask: its request is dropped (QoS 0), so only the admin's is answered.
	if tok := vc.Publish(tp.Ask("cam"), 0, false, `{"question":"x","request_id":"viewer-1"}`); !tok.WaitTimeout(waitTimeout) {
		t.Fatal("publish timed out")
	}
	mqtttest.Publish(t, ac, tp.Ask("cam"), false, `{"question":"x","request_id":"admin-1"}`)
	admin.WaitFor(t, 0, "the answer to the admin's ask", byRequestID("admin-1"))
	mqtttest.Publish(t, vc, "viewer/own", false, "mine")
	admin.WaitOn(t, "viewer/own", "the viewer's publish under its write filter", nil)
	// Labels of frame 3, sent last, arrive after anything the viewer could have been sent.
	if err := p.PublishLabels("cam", Labels{Frame: 3, LabelSet: "s", Labels: []Label{{Label: "cat", Score: 1}}}); err != nil {
		t.Fatal(err)
	}
	viewer.WaitFor(t, 0, "the last labels", func(m mqtttest.Message) bool { return strings.Contains(m.Payload, `"frame":3`) })
	for _, m := range viewer.All() {
		if m.Topic != tp.Labels("cam") {
			t.Errorf("viewer received %s, outside its read permission", m.Topic)
		}
	}
	if slices.ContainsFunc(admin.All(), byRequestID("viewer-1")) {
		t.Error("the viewer's ask was answered")
	}
}

// A publish over the broker's packet limit closes that client's connection before its body
// is read; the broker, edged and other clients go on.
func TestEmbeddedBrokerMaxPacket(t *testing.T) {
	p, _ := startPublisher(t, Options{Broker: EmbeddedBroker, Listen: "127.0.0.1:0", Device: "big", QoS: 1,
		Embedded: BrokerConfig{MaxPacketBytes: 64 << 10}})
	waitConnected(t, p)
	rec, sub := mqtttest.Subscribe(t, p.BrokerURL(), "big/#")
	big, err := dial(t, p.BrokerURL(), clientOpts("big", "", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	big.Publish("big/x", 0, false, make([]byte, 65<<10)).WaitTimeout(waitTimeout)
	eventually(t, "the sender of a 65 KiB publish to be disconnected", func() bool { return !big.IsConnected() })
	mqtttest.Publish(t, sub, "big/small", false, "ok")
	rec.WaitTopic(t, 0, "big/small")
	if len(rec.On("big/x")) != 0 {
		t.Error("the oversized publish was delivered")
	}
	// edged refuses to send what its broker would refuse, rather than losing its connection.
	if err := p.PublishSnapshot("cam", make([]byte, 65<<10)); err == nil || !strings.Contains(err.Error(), "max_packet_bytes") {
		t.Errorf("an oversized snapshot: %v, want a max_packet_bytes error", err)
	}
	if s := p.Stats(); !s.Connected || s.Connects != 1 {
		t.Errorf("edged's session: %+v", s)
	}
}

func TestEmbeddedBrokerTLS(t *testing.T) {
	pki := newTestPKI(t)
	users := usersFile(t, map[string]string{"ha": "pw"})
	p, _ := startPublisher(t, Options{Broker: EmbeddedBroker, Listen: "127.0.0.1:0", Device: "tls",
		Embedded: BrokerConfig{UsersFile: users, TLSCert: pki.serverCert, TLSKey: pki.serverKey}})
	waitConnected(t, p)
	url := p.BrokerURL()
	if !strings.HasPrefix(url, "ssl://127.0.0.1:") {
		t.Fatalf("broker URL %q, want ssl://", url)
	}
	rec := mqtttest.NewRecorder()
	c, err := dial(t, url, clientOpts("tls-ha", "ha", "pw").SetTLSConfig(&tls.Config{RootCAs: pki.pool}), rec)
	if err != nil {
		t.Fatal(err)
	}
	mqtttest.SubscribeTo(t, c, "edged/tls/available")
	rec.WaitOn(t, "edged/tls/available", "online over TLS", func(m mqtttest.Message) bool { return m.Payload == "online" })
	// Plain MQTT on the TLS port gets no connection.
	if _, err := dial(t, strings.Replace(url, "ssl://", "tcp://", 1), clientOpts("plain", "ha", "pw").SetConnectTimeout(waitTimeout/3), nil); err == nil {
		t.Error("a plain-text client connected to the TLS listener")
	}
}

func TestBrokerExposure(t *testing.T) {
	for _, c := range []struct {
		addr string
		cfg  BrokerConfig
		ok   bool
	}{
		{"127.0.0.1:1883", BrokerConfig{}, true},
		{"localhost:1883", BrokerConfig{}, true},
		{"0.0.0.0:1883", BrokerConfig{}, false},
		{":1883", BrokerConfig{}, false},
		{"0.0.0.0:1883", BrokerConfig{AllowAnonymous: true}, true},
		{"0.0.0.0:1883", BrokerConfig{UsersFile: "users"}, true},
	} {
		err := c.cfg.CheckExposure(c.addr)
		if (err == nil) != c.ok {
			t.Errorf("CheckExposure(%s, %+v) = %v, want ok=%v", c.addr, c.cfg, err, c.ok)
		}
	}
	if _, err := StartBroker("0.0.0.0:0", BrokerConfig{}, nil); err == nil || !strings.Contains(err.Error(), "beyond loopback") {
		t.Errorf("StartBroker beyond loopback without users: %v", err)
	}
}

// A subscriber that never acknowledges its QoS 1 messages gets at most maxInflight of them;
// the broker drops the rest for it alone, and counts them.
func TestEmbeddedBrokerCountsDropsForASlowSubscriber(t *testing.T) {
	p, _ := startPublisher(t, Options{Broker: EmbeddedBroker, Listen: "127.0.0.1:0", Device: "slow", QoS: 1})
	waitConnected(t, p)

	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(p.BrokerURL(), "tcp://"), waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	connect := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
	connect.ProtocolName, connect.ProtocolVersion, connect.ClientIdentifier = "MQTT", 4, "never-acks"
	connect.CleanSession, connect.Keepalive = true, 60
	subscribe := packets.NewControlPacket(packets.Subscribe).(*packets.SubscribePacket)
	subscribe.MessageID, subscribe.Topics, subscribe.Qoss = 1, []string{"slow/#"}, []byte{1}
	conn.SetDeadline(time.Now().Add(waitTimeout))
	for _, pk := range []packets.ControlPacket{connect, subscribe} {
		if err := pk.Write(conn); err != nil {
			t.Fatal(err)
		}
		if _, err := packets.ReadPacket(conn); err != nil { // CONNACK, SUBACK
			t.Fatal(err)
		}
	}
	// From here the subscriber reads nothing and acknowledges nothing.

	rec, sub := mqtttest.Subscribe(t, p.BrokerURL(), "slow/#")
	const sent = maxInflight + 100
	for i := range sent {
		if tok := sub.Publish("slow/x", 1, false, fmt.Sprint(i)); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	rec.WaitOn(t, "slow/x", "the last message", func(m mqtttest.Message) bool { return m.Payload == fmt.Sprint(sent-1) })
	eventually(t, "the broker to count the slow subscriber's drops", func() bool { return p.Stats().BrokerDropped >= sent-maxInflight })
	if got := p.Stats().BrokerDropped; got != sent-maxInflight {
		t.Errorf("BrokerDropped = %d, want %d (%d sent, %d kept unacknowledged)", got, sent-maxInflight, sent, maxInflight)
	}
}
