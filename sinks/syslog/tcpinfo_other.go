//go:build !linux

package syslog

import (
	"syscall"
	"time"
)

// tcpInfo is not read outside Linux: the sink then trusts that what it
// wrote arrived, and only the resend window protects recent messages.
type tcpInfo struct{}

func newTCPInfo(syscall.RawConn) *tcpInfo { return &tcpInfo{} }

func (*tcpInfo) bytesAcked() (int64, bool) { return 0, false }

func setUserTimeout(syscall.RawConn, time.Duration) {}
