// Package ecs encodes flat SysFlow events as Elastic Common Schema (ECS)
// documents, one JSON object per event, for Elasticsearch, OpenSearch and
// SIEMs that read ECS (through syslog, files or a bus).
//
// The document follows the shape of the reference processor's "ecs" format
// (sf-processor's encoders/ecs.go): the same objects and custom fields
// (event.sf_type, event.sf_ret, event.reason, event.severity,
// sf_file_action, container.sf_privileged, pod, service), so dashboards
// built on it keep working. Where the reference departs from ECS, this
// encoder follows ECS and says so here:
//
//   - process.args is an array (the executable, then the arguments split on
//     white space) and process.args_count its length; the reference wrote
//     the argument string and counted the arguments only.
//   - network.transport holds tcp/udp/icmp (the reference wrote it to
//     network.protocol, which ECS reserves for the application protocol).
//   - user.id and user.group.id are strings (ECS keywords).
//   - container.runtime is lower case (docker, cri, containerd, crio, ...).
//   - host.ip is an array and is left out when the collector sent no valid
//     address (the reference wrote "" or "NA", which an ip field rejects).
//
// Added to the reference's fields: event.module ("sysflow"), event.dataset
// ("sysflow.alerts" or "sysflow.events"), event.outcome (success or
// failure from the return code of process and file events),
// process.entity_id and process.parent.entity_id (sf.proc.oid, the
// XXH64 of pid and create time), process.working_directory (schema v5),
// process.interactive (the process has a terminal), process.sf_entry, and
// for alerts the ECS rule object: rule.name and rule.description of the
// highest-priority matching rule (every matching rule is listed in
// event.reason). The process environment is never written: it often holds
// credentials.
//
// An event that matched a policy rule has event.kind "alert"; any other
// event has event.kind "event".
//
// The encoder appends to a caller's buffer and allocates nothing per event
// in the common case; it is safe for concurrent use.
package ecs
