// Package rsyslog runs a real rsyslogd for tests: the syslog receiver users
// run in production, started by the test itself (it installs nothing). Start
// writes a configuration into a temporary directory and runs
// `rsyslogd -n -f CONF -i PIDFILE` on loopback high ports with plain TCP
// (imtcp, octet-counted or newline framing), UDP (imudp) and TLS (imtcp with
// the gtls driver and a throw-away PKI generated with crypto/x509). Every
// received message is written, exactly as received, to one file
// (%rawmsg%), and the fields rsyslog parsed from it to another, so a test
// can check both the bytes a sender produced and how a real receiver read
// them. Stop, Kill and Start let a test restart the receiver mid-stream.
//
// The package also holds strict RFC 5424 and RFC 3164 parsers, used to check
// every field of the received messages independently of the sender.
//
// rsyslogd comes from the distribution: `apt-get install rsyslog
// rsyslog-gnutls`. When it is missing, tests are skipped, or fail under
// CI=true. This package is for tests only; nothing in the connector imports it.
package rsyslog
