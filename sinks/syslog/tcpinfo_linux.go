package syslog

import (
	"encoding/binary"
	"syscall"
	"time"
	"unsafe"
)

// tcpInfoBytesAcked is the offset of tcpi_bytes_acked in struct tcp_info
// (Linux 4.1 and later): the bytes of the stream the peer's kernel
// acknowledged. Unlike the send-queue length, it survives a reset of the
// connection, so a sample taken just after the peer vanished is still true.
const tcpInfoBytesAcked = 120

// tcpInfo reads struct tcp_info without allocating: the buffer and the
// function handed to RawConn.Control are made once per connection.
type tcpInfo struct {
	rc    syscall.RawConn
	buf   [256]byte
	size  uint32
	errno syscall.Errno
	ctl   func(fd uintptr)
}

func newTCPInfo(rc syscall.RawConn) *tcpInfo {
	t := &tcpInfo{rc: rc}
	t.ctl = func(fd uintptr) {
		t.size = uint32(len(t.buf))
		_, _, t.errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&t.buf[0])), uintptr(unsafe.Pointer(&t.size)), 0)
	}
	return t
}

// bytesAcked returns the number of bytes the peer acknowledged. The
// caller serializes calls.
func (t *tcpInfo) bytesAcked() (int64, bool) {
	if err := t.rc.Control(t.ctl); err != nil || t.errno != 0 || t.size < tcpInfoBytesAcked+8 {
		return 0, false
	}
	n := int64(binary.NativeEndian.Uint64(t.buf[tcpInfoBytesAcked:]))
	if n > 0 {
		n-- // the SYN takes one sequence number and is counted
	}
	return n, true
}

// setUserTimeout sets TCP_USER_TIMEOUT: the connection is aborted when
// written data stays unacknowledged that long, so a receiver that vanished
// without closing (a crashed host, a cut network) is noticed.
func setUserTimeout(rc syscall.RawConn, d time.Duration) {
	if d <= 0 {
		return
	}
	const tcpUserTimeout = 0x12
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(d/time.Millisecond))
	})
}
