package avro

import (
	_ "embed"
	"fmt"
	"strings"
)

// Schema names one of the package's schemas.
type Schema string

// The package's schemas (avro.schema in the configuration).
const (
	SchemaEvent  Schema = "event"  // io.sfconnector.FlatEvent
	SchemaAlert  Schema = "alert"  // io.sfconnector.Alert
	SchemaRecord Schema = "record" // sysflow.SysFlow (v5)
)

var (
	//go:embed schemas/event.avsc
	eventAVSC string
	//go:embed schemas/alert.avsc
	alertAVSC string
	//go:embed schemas/record.avsc
	recordAVSC string
)

// Full names of the schemas' top-level records; a decoder tells them apart
// by these.
const (
	nameEvent  = "io.sfconnector.FlatEvent"
	nameAlert  = "io.sfconnector.Alert"
	nameRecord = "sysflow.SysFlow"
)

// Text returns the schema's JSON text as registered.
func (s Schema) Text() (string, error) {
	switch s {
	case SchemaEvent:
		return strings.TrimSpace(eventAVSC), nil
	case SchemaAlert:
		return strings.TrimSpace(alertAVSC), nil
	case SchemaRecord:
		return strings.TrimSpace(recordAVSC), nil
	}
	return "", fmt.Errorf("avro schema %q is not one of event, alert, record", string(s))
}
