// Package publish is everything edged says or hears over MQTT: the paho client and its
// connection loop (reconnect with backoff, also when the first connection fails), the topic
// layout, the frozen JSON payloads, availability with a last will, ask requests and their
// answers, Home Assistant discovery, a bounded offline queue, and the embedded broker used
// when the config says `broker: embedded`.
//
// Topics, under Options.TopicPrefix (default "edged") and Options.Device:
//
//	<prefix>/<device>/available          retained: online | stopped (clean shutdown) | offline (last will)
//	<prefix>/<device>/<camera>/labels    Labels
//	<prefix>/<device>/<camera>/events    Event
//	<prefix>/<device>/<camera>/caption   Caption
//	<prefix>/<device>/<camera>/answer    Answer, or AskError for a bad request
//	<prefix>/<device>/<camera>/snapshot  JPEG bytes
//	<prefix>/<device>/<camera>/ask       subscribed: plain-text question or AskRequest JSON
//
// Results handed to a Publisher never block on the network: they wait in a bounded FIFO
// queue and one sender goroutine publishes them in order while the broker is reachable.
package publish
