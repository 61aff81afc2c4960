package lines

import (
	"bytes"
	"errors"
	"strconv"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sysflow"
)

type tsEncoder struct{}

func (tsEncoder) AppendEvent(dst []byte, ev *sysflow.Event) ([]byte, error) {
	if ev.TS < 0 {
		return dst, errors.New("negative")
	}
	return strconv.AppendInt(dst, ev.TS, 10), nil
}

func msg(from, n int) *message.Message {
	evs := make([]*sysflow.Event, n)
	for i := range evs {
		evs[i] = &sysflow.Event{Kind: sysflow.KindFileFlow, TS: int64(from + i)}
	}
	return sysflow.WithBatch(message.NewMessage("m", nil), &sysflow.Batch{Events: evs})
}

// The chunks and the rest, concatenated, are exactly what Append writes,
// and every chunk handed over holds at least limit bytes.
func TestAppendChunkedMatchesAppend(t *testing.T) {
	msgs := []*message.Message{msg(0, 700), msg(700, 0), msg(700, 1300)}
	want, wantN, err := Append(nil, tsEncoder{}, msgs)
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 7, 100, 4096, 1 << 20} {
		var got bytes.Buffer
		chunks := 0
		rest, n, err := AppendChunked(nil, tsEncoder{}, msgs, limit, func(b []byte) ([]byte, error) {
			if len(b) < limit {
				t.Errorf("limit %d: a chunk of %d bytes", limit, len(b))
			}
			got.Write(b)
			chunks++
			return b[:0], nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got.Write(rest)
		if n != wantN || !bytes.Equal(got.Bytes(), want) {
			t.Errorf("limit %d: %d events, %d bytes; want %d, %d", limit, n, got.Len(), wantN, len(want))
		}
		if limit == 1<<20 && chunks != 0 {
			t.Errorf("a batch under the limit was flushed %d times", chunks)
		}
	}
}

func TestAppendChunkedErrors(t *testing.T) {
	boom := errors.New("disk full")
	_, _, err := AppendChunked(nil, tsEncoder{}, []*message.Message{msg(0, 100)}, 10, func(b []byte) ([]byte, error) {
		return b, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("flush error: got %v", err)
	}
	bad := msg(0, 3)
	sysflow.BatchOf(bad).Events[1].TS = -1
	if _, n, err := AppendChunked(nil, tsEncoder{}, []*message.Message{bad}, 10, func(b []byte) ([]byte, error) { return b[:0], nil }); err == nil || n != 1 {
		t.Errorf("encoder error: n=%d err=%v", n, err)
	}
	if _, _, err := AppendChunked(nil, tsEncoder{}, []*message.Message{message.NewMessage("x", nil)}, 10, nil); err == nil {
		t.Error("a message without a batch was accepted")
	}
}
