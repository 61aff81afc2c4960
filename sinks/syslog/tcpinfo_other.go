//go:build !linux

package syslog

import (
	"syscall"
	"time"
)

// bytesAcked is unknown outside Linux: the sink then trusts that what it
// wrote arrived, and only the resend window protects recent messages.
func bytesAcked(syscall.RawConn) (int64, bool) { return 0, false }

func setUserTimeout(syscall.RawConn, time.Duration) {}
