// Package syslog is the sink that sends events to a syslog receiver
// (rsyslog, syslog-ng, a SIEM's collector): one message per event, its body
// written by the configured encoder (JSON, ECS), as RFC 5424 (default) or
// RFC 3164, over TCP with octet-counting framing (RFC 6587), UDP, or TLS
// (RFC 5425). It is a Watermill Publisher. It is not a syslog receiver, and
// it does not speak RELP.
//
// # Messages
//
// RFC 5424: "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - BODY", where
// TIMESTAMP is the event's time in UTC with microseconds, HOSTNAME is
// syslog.source (default the host's name), APP-NAME syslog.tag (default
// "sysflow"), PROCID the connector's pid and MSGID "alert" for an event that
// matched a rule, "event" otherwise. There is no structured data and no BOM
// (the body is JSON, MSG-ANY). RFC 3164: "<PRI>Mmm dd hh:mm:ss HOSTNAME
// TAG[PID]: BODY" in local time. The severity follows the highest priority
// of the matched rules: high crit, medium warning, low notice; an event no
// rule matched is info (syslog.severity.*); the facility is daemon
// (syslog.facility).
//
// Messages longer than syslog.max_message_size are cut at a UTF-8
// boundary and counted (Stats.Truncated): over UDP the limit defaults to
// 2048 bytes, the size RFC 5426 recommends receivers accept without
// fragmentation concerns; over TCP and TLS to 64 KiB, which needs rsyslog's
// global maxMessageSize raised (its default is 8 KiB, beyond which rsyslog
// cuts the message itself).
//
// # Delivery
//
// Publish returns once every message is written and flushed to the kernel
// (TCP, TLS) or sent (UDP). UDP gives no delivery guarantee at all. Over
// TCP a successful write only means the bytes reached our kernel: when the
// receiver restarts, whatever sat in our send buffer, in its receive
// buffer, or in its memory unprocessed is lost without any error on our
// side. The sink therefore keeps the last syslog.buffer messages it wrote
// and, when a connection breaks, sends again on the next connection every
// kept message that is not proven delivered:
//
//   - a message the receiver's kernel has not acknowledged (read from
//     TCP_INFO on Linux) is never considered delivered;
//   - an acknowledged message counts as delivered once it is older than
//     syslog.resend_window (default 2s) counted back from the moment the
//     failure was noticed, or from the last time the receiver was seen
//     taking data, whichever is earlier (a receiver that stopped reading
//     does not make its buffered data count).
//
// A broken connection is noticed as soon as the receiver closes or resets
// it (a goroutine reads from the connection; receivers never send), or
// when data stays unacknowledged for syslog.write_timeout (TCP_USER_TIMEOUT).
// Reconnection happens at the next Publish or, when no event comes, in
// the background, with backoff from 100ms to 5s. Publish waits for the
// receiver up to syslog.reconnect_timeout, then fails so the router retries
// or dead-letters the message; on failure the sink forgets the call's
// messages, as the retry sends them again.
//
// Delivery is therefore at least once: a restart produces duplicates (up
// to a resend window's or a buffer's worth) and, in our tests against
// rsyslog stopped or killed mid-stream over TCP and TLS, no loss. What the
// heuristic cannot see: a receiver that holds acknowledged data unread for
// longer than the resend window while its kernel keeps accepting more (a
// hung receiver under a light load) and then dies; and a full buffer,
// where an acknowledged message is dropped even inside the window (raise
// syslog.buffer for high event rates). Receivers with in-memory queues
// lose what they queued when they crash; configure disk-assisted queues
// there.
//
// Close delivers what is kept: it ends the stream and waits (up to
// syslog.write_timeout) for the receiver to close its side, which it does
// after reading everything, reconnecting and resending if needed. It
// returns an error naming how many messages it could not prove delivered.
//
// # TLS
//
// The receiver's certificate is verified against the system's roots or
// syslog.tls.ca, for the name in syslog.tls.servername (default the host);
// syslog.tls.cert and syslog.tls.key present a client certificate. A
// verification failure is reported at once (it is not retried);
// syslog.tls.insecure turns verification off and says so in the log.
package syslog
