// Package flatten turns a stream of SysFlow records into flat events.
//
// The collector writes entities (processes, files, containers, pods, and a
// header per stream) once, and events that refer to them by id. A
// Flattener keeps the entity tables of one stream and, for every
// ProcessEvent, FileEvent, FileFlow, NetworkFlow and K8sEvent, emits a
// sysflow.Event that points at the process, its parent and ancestry, its
// container and pod, and the files involved, as they were when the event
// arrived. Flat events are self-contained: policies, encoders and bus sinks
// need nothing else. NetworkEvent and ProcessFlow records are not emitted,
// like in the reference processor.
//
// A missing reference is counted and logged once per id and the event is
// still emitted with that part nil. Memory stays bounded on endless
// streams: exited processes leave the table after a grace period in stream
// time, and every table has a cap beyond which its oldest entries go.
//
// What it is not for: decoding (package sysflow), policy evaluation
// (transforms/policy) or output formats (encoding/...). A Flattener serves
// one stream from one goroutine; run one per stream for parallelism.
package flatten
