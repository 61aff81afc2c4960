// Package socket is the collector-socket source: a unix SOCK_SEQPACKET
// listener speaking the SysFlow collector's protocol (one Avro datum of the
// SysFlow union per message, a header first at each connect).
//
// Connections are served one after another, as the collector reconnects.
// Messages of any size the kernel delivers are read whole (each one is
// peeked for its length first). The socket file is created with mode 0600
// unless configured otherwise and removed on Close.
//
// Back-pressure, not loss: decoded records are queued in a bounded number of
// batches; when the queue is full the socket is not read, so the collector
// is slowed by the kernel. Malformed or oversized messages are counted and
// logged with the connection and message number, and skipped.
package socket
