// Package text is a readable one-line encoding of flat events for the
// terminal: time, type, node and container, the process with its pid and
// parent, the operations, the file or the connection, and for alerts the
// matched rules with their priority. It is for people, not for parsers.
package text

import (
	"strconv"
	"time"

	"github.com/sfconnector/sfconnector/sysflow"
)

// Encoder writes one readable line per event (without the newline).
type Encoder struct {
	// UTC prints times in UTC (default local time).
	UTC bool
}

// AppendEvent implements encoding.Encoder.
func (enc Encoder) AppendEvent(dst []byte, ev *sysflow.Event) ([]byte, error) {
	t := time.Unix(0, ev.TS)
	if enc.UTC {
		t = t.UTC()
	}
	dst = t.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	dst = append(dst, ' ')
	dst = append(dst, ev.Kind.TypeName()...)
	if len(ev.Matches) > 0 {
		dst = append(dst, " ["...)
		dst = append(dst, ev.MaxPriority().String()...)
		dst = append(dst, ']')
	}
	dst = append(dst, ' ')
	if ev.Header != nil {
		dst = append(dst, ev.Header.Exporter...)
	}
	if ev.Container != nil {
		dst = append(dst, '/')
		dst = append(dst, ev.Container.Name...)
	}
	if ev.Proc != nil {
		dst = append(dst, " proc="...)
		dst = append(dst, ev.Proc.Exe...)
		dst = append(dst, '[')
		dst = strconv.AppendInt(dst, ev.ProcOID.Hpid, 10)
		dst = append(dst, ']')
		if ev.Proc.UserName != "" {
			dst = append(dst, " user="...)
			dst = append(dst, ev.Proc.UserName...)
		}
		if ev.Parent != nil {
			dst = append(dst, " parent="...)
			dst = append(dst, sysflow.ProcName(ev.Parent)...)
		}
	}
	var ops [24]string
	names := sysflow.OpFlagNames(ops[:0], ev.OpFlags, ev.Kind)
	if len(names) > 0 {
		dst = append(dst, " ops="...)
		for i, n := range names {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, n...)
		}
	}
	switch ev.Kind {
	case sysflow.KindFileFlow, sysflow.KindFileEvent:
		dst = append(dst, " file="...)
		dst = strconv.AppendQuote(dst, ev.FilePath())
		if p := ev.NewFilePath(); p != "" {
			dst = append(dst, " -> "...)
			dst = strconv.AppendQuote(dst, p)
		}
	case sysflow.KindNetworkFlow, sysflow.KindNetworkEvent:
		dst = append(dst, ' ')
		dst = append(dst, ev.SrcIP()...)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(ev.SPort), 10)
		dst = append(dst, "->"...)
		dst = append(dst, ev.DstIP()...)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(ev.DPort), 10)
	case sysflow.KindProcessEvent:
		if ev.Proc != nil && ev.Proc.ExeArgs != "" {
			dst = append(dst, " args="...)
			dst = strconv.AppendQuote(dst, ev.Proc.ExeArgs)
		}
	case sysflow.KindK8sEvent:
		if ev.K8s != nil {
			dst = append(dst, ' ')
			dst = strconv.AppendQuote(dst, ev.K8s.Message)
		}
	}
	for i, m := range ev.Matches {
		if i == 0 {
			dst = append(dst, " rules="...)
		} else {
			dst = append(dst, "; "...)
		}
		dst = append(dst, m.Rule...)
		if m.Output != "" {
			dst = append(dst, " ("...)
			dst = append(dst, m.Output...)
			dst = append(dst, ')')
		}
	}
	return dst, nil
}
