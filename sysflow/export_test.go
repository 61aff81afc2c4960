package sysflow

// SetDedupForTest turns the decoder's entity cache (dedup.go) on or off, so
// that tests can compare the fast path with the plain one.
func SetDedupForTest(r *Reader, on bool) { r.d.cache.off = !on }
