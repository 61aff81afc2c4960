// Package file is the trace-file source: a SysFlow Avro object container
// file, a directory of them (read in name order; each file's header resets
// the flattener's entity tables), or a glob. With Follow it watches a
// directory the collector rotates files into and reads each finished file
// once.
//
// It is a Watermill message.Subscriber. Each message carries one batch of
// records; the next is sent only after the previous one was acknowledged, so
// the stream stays in order, and decoding runs ahead in the source's own
// goroutine. It is not for the collector's socket (see sources/socket).
package file
