package publish

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edged/edged/internal/mqtttest"
)

// testPKI is a throwaway CA with a server certificate for 127.0.0.1 and a client certificate.
type testPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
	pool                                                 *x509.CertPool
	clientPair                                           tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edged test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	serverDER, serverKey := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	clientDER, clientKey := issue(3, "edged", x509.ExtKeyUsageClientAuth, nil)

	p := testPKI{
		caFile:     writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER),
		serverCert: writePEM(t, dir, "server.pem", "CERTIFICATE", serverDER),
		serverKey:  writePEM(t, dir, "server.key", "EC PRIVATE KEY", marshalKey(t, serverKey)),
		clientCert: writePEM(t, dir, "client.pem", "CERTIFICATE", clientDER),
		clientKey:  writePEM(t, dir, "client.key", "EC PRIVATE KEY", marshalKey(t, clientKey)),
		pool:       x509.NewCertPool(),
	}
	p.pool.AddCert(ca)
	if p.clientPair, err = tls.LoadX509KeyPair(p.clientCert, p.clientKey); err != nil {
		t.Fatal(err)
	}
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func marshalKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writePEM(t *testing.T, dir, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLSBrokerWithClientCertificate(t *testing.T) {
	pki := newTestPKI(t)
	m := mqtttest.NewBroker(t, strings.Join([]string{
		"allow_anonymous true",
		"cafile " + pki.caFile,
		"certfile " + pki.serverCert,
		"keyfile " + pki.serverKey,
		"require_certificate true",
	}, "\n"))
	m.Start()
	url := strings.Replace(m.URL(), "tcp://", "ssl://", 1)

	// A TLS subscriber with its own client certificate.
	rec := mqtttest.NewRecorder()
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("tls-sub").SetAutoReconnect(false).
		SetTLSConfig(&tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.clientPair}}).
		SetDefaultPublishHandler(rec.Handle))
	if tok := sub.Connect(); !tok.WaitTimeout(waitTimeout) || tok.Error() != nil {
		t.Fatalf("TLS subscriber: %v", tok.Error())
	}
	defer sub.Disconnect(50)
	mqtttest.SubscribeTo(t, sub, "edged/+/available")

	startPublisher(t, Options{Broker: url, Device: "tls", QoS: 1,
		TLS: TLSFiles{CA: pki.caFile, Cert: pki.clientCert, Key: pki.clientKey}})
	rec.WaitFor(t, 0, "online over TLS", func(m mqtttest.Message) bool { return m.Topic == "edged/tls/available" && m.Payload == "online" })

	// Without a client certificate the broker refuses the handshake; it is logged and retried.
	_, logs := startPublisher(t, Options{Broker: url, Device: "nocert", TLS: TLSFiles{CA: pki.caFile}})
	eventually(t, "two failed TLS attempts", func() bool { return logs.Count("cannot connect to the MQTT broker") >= 2 })

	// Without the CA the server certificate is not trusted.
	_, logs = startPublisher(t, Options{Broker: url, Device: "noca", TLS: TLSFiles{Cert: pki.clientCert, Key: pki.clientKey}})
	eventually(t, "an untrusted-certificate error", func() bool { return logs.Count("certificate signed by unknown authority") >= 1 })
}
