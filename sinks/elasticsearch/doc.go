// Package elasticsearch is the sink that indexes events in Elasticsearch (or
// a server speaking its bulk API) as Elastic Common Schema documents
// (encoding/ecs), through go-elasticsearch's esutil.BulkIndexer. It is a
// Watermill Publisher. It does not create indices, templates or ILM
// policies: docs/elasticsearch/index-template.json is the template for the
// fields it writes, to install once.
//
// # Indices and document ids
//
// The index name is a pattern expanded per event from the event's own time
// (UTC): sysflow-%Y.%m.%d puts an event of 3 December 2026 in
// sysflow-2026.12.03, whenever it is written. Each document is written with
// the bulk "create" action and an _id derived from the SysFlow record
// (DocumentID: node, record type, process OID, thread, times, operation,
// file and flow identity), never from the time of writing. A document
// written again, after a lost response, a restart of sfconnector or of the
// server, is refused with 409 Conflict: that answer counts as written. So
// retries never make duplicates, and at-least-once delivery upstream gives
// exactly one document per record.
//
// # Delivery
//
// Publish returns only once Elasticsearch acknowledged every item of its
// messages (created, or 409 already there) or the item was handed to the
// dead-letter sink. Items refused with 429 or a 5xx status, and every item
// of a bulk request that failed as a whole (connection refused, 429/5xx
// response), are sent again with exponential back-off (es.retry.initial,
// doubling up to 5s, es.retry.max times); after that Publish fails and the
// pipeline retries the batch (documents already written answer 409). Items
// refused for good (400 mapping errors, 404 index closed or missing with
// auto-creation off, ...) go to the dead-letter sink, one message per item
// with the server's error type and reason; without a dead-letter sink
// Publish fails naming them, and the batch is redelivered. Abort (the
// pipeline's shutdown deadline) ends back-off waits and requests in flight.
//
// es.bulk.flushBuffer bounds the bytes of one bulk request and
// es.bulk.numWorkers the requests in flight; a Publish flushes at its end,
// since it must wait for the answers anyway, so es.bulk.flushTimeout only
// matters within a very large batch.
//
// # Security
//
// TLS (https:// addresses) verifies the server's certificate by default,
// against the system roots or es.tls.ca. Credentials: an API key
// (es.apikey_file or SFCONNECTOR_ES_APIKEY) or basic auth (es.username with
// es.password_file or SFCONNECTOR_ES_PASSWORD). The reference's inline
// es.password is accepted with a warning. Secrets are bus.Secret values:
// they print as REDACTED and are never logged.
package elasticsearch
