//go:build race

package connector_test

// raceDetector: the race detector slows decoding and policy evaluation
// about tenfold, so the OTLP round trips use the small traces only.
const raceDetector = true
