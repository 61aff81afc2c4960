package avro

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Avro binary primitives used by the writers.

func appendLong(dst []byte, v int64) []byte {
	return binary.AppendUvarint(dst, uint64((v<<1)^(v>>63)))
}

func appendString(dst []byte, s string) []byte {
	dst = appendLong(dst, int64(len(s)))
	return append(dst, s...)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// appendStrings writes an array of strings as one block.
func appendStrings(dst []byte, ss []string) []byte {
	if len(ss) > 0 {
		dst = appendLong(dst, int64(len(ss)))
		for _, s := range ss {
			dst = appendString(dst, s)
		}
	}
	return append(dst, 0)
}

// The Confluent wire format: magic byte 0, 4-byte big-endian schema id.
const (
	magicByte  = 0
	headerSize = 5
)

// ErrNotConfluent is returned for a message that does not start with the
// Confluent wire format's magic byte.
var ErrNotConfluent = errors.New("not in the Confluent wire format (magic byte 0, 4-byte schema id)")

// AppendHeader appends the wire-format header for schema id.
func AppendHeader(dst []byte, id int) []byte {
	return binary.BigEndian.AppendUint32(append(dst, magicByte), uint32(id))
}

// ParseHeader splits a message into its schema id and Avro body.
func ParseHeader(b []byte) (id int, body []byte, err error) {
	if len(b) < headerSize || b[0] != magicByte {
		if len(b) == 0 {
			return 0, nil, fmt.Errorf("empty message: %w", ErrNotConfluent)
		}
		return 0, nil, fmt.Errorf("%d bytes starting 0x%02x: %w", len(b), b[0], ErrNotConfluent)
	}
	return int(binary.BigEndian.Uint32(b[1:headerSize])), b[headerSize:], nil
}
