package connector

import (
	"fmt"

	"github.com/sfconnector/sfconnector/encoding"
	"github.com/sfconnector/sfconnector/encoding/ecs"
	"github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/encoding/text"
)

// newEncoder returns the encoder of an exporter's format.
func newEncoder(format string, flat bool, version string) (encoding.Encoder, error) {
	switch format {
	case "json":
		return json.New(json.Options{Flat: flat}), nil
	case "ecs":
		return ecs.New(ecs.Config{AgentVersion: version})
	case "text":
		return text.Encoder{}, nil
	}
	return nil, fmt.Errorf("unknown format %q (json, ecs, text; avro on kafka and nats)", format)
}
