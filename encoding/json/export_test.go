package json

import "github.com/sfconnector/sfconnector/sysflow"

// AppendNestedUncached writes ev as an Encoder without the section cache
// does: the oracle the cached sections are checked against.
func AppendNestedUncached(dst []byte, ev *sysflow.Event) []byte {
	return (*sectionCache)(nil).appendNested(dst, ev)
}
