package sysflow

// Offset is how many bytes of the container file the Reader has consumed:
// the end of the last block read (progress reporting).
func (r *Reader) Offset() int64 { return r.off }
