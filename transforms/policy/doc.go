// Package policy is the policy transform: it runs a compiled policy set
// (package policies) over batches of flat events.
//
// Modes, as FIELDS.md describes them:
//
//   - alert: drop filters first; then only records that match at least one
//     rule are emitted, each listing every rule that matched (Event.Matches,
//     in rule order) and the merged, de-duplicated tags (Event.Tags);
//   - enrich: drop filters first; every remaining record is emitted, with
//     its matches attached when there are any;
//   - filter: drop filters only; every remaining record is emitted as
//     telemetry and rules are not evaluated.
//
// A batch is split across Config.Workers goroutines, each with its own
// Evaluator, and the output keeps the input order. The running set is
// replaced with Swap, atomically between batches: a batch is evaluated
// entirely by the set that was current when it started, so no record is
// lost or evaluated twice across a reload. Watcher reloads the set when
// the policy files change (fsnotify, recursive) and on demand (Reload, which
// the connector calls on SIGHUP); a set that fails to load is logged with
// all its errors and the running one stays.
//
// Concurrency: Process may be called from several goroutines at once (one
// per stream); each call owns its worker goroutines and waits for them.
// Swap waits for the batches in progress.
//
// The package does not load configuration or wire signals: the connector
// does.
package policy
