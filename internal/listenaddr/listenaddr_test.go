package listenaddr

import "testing"

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1883": true, "127.8.9.1:80": true, "[::1]:8080": true, "localhost:1883": true,
		"LOCALHOST.:1": true, "edged.localhost:8080": true, "::1": true, "127.0.0.1": true,
		":1883": false, "0.0.0.0:1883": false, "[::]:1883": false, "192.168.1.5:1883": false,
		"pi.local:8080": false, "localhost.example.com:80": false, "": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
