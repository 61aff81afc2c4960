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

// bytesAcked returns the number of bytes the peer acknowledged.
func bytesAcked(rc syscall.RawConn) (int64, bool) {
	var buf [256]byte
	size := uint32(len(buf))
	var errno syscall.Errno
	err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
	})
	if err != nil || errno != 0 || size < tcpInfoBytesAcked+8 {
		return 0, false
	}
	n := int64(binary.NativeEndian.Uint64(buf[tcpInfoBytesAcked:]))
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
