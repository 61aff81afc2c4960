//go:build !race

package connector_test

const raceDetector = false
