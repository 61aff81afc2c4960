// Package conformance is the one test suite every bus source and sink runs
// against its real server: delivery, order per key, ack and nack, close
// while busy, and reconnection after the server restarts. A backend says
// what it guarantees in a Features value and how to make a publisher and
// subscribers in a Setup; the suite decides which tests apply.
//
// Events travel as text encoded by Codec ("node|container|seq"), so the suite
// checks transport, not encodings: encodings have their own tests.
package conformance
