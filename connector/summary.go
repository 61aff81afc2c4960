package connector

import "log/slog"

// Summary is what a run did, for the line logged at its end.
type Summary struct {
	Records int64 // records (or flat events from a bus) taken from the source
	Events  int64 // flat events made of them
	Alerts  int64 // events that matched at least one rule of a policy stage
	Sinks   []SinkSummary
}

// SinkSummary is one sink's part of a Summary.
type SinkSummary struct {
	Name    string
	Written int64 // records the sink accepted
	Failed  int64 // failed writes (each was retried)
}

// Summary returns the counts of the run so far.
func (p *Pipeline) Summary() Summary {
	s := Summary{Records: p.recordsRead.Load(), Events: p.eventsMade.Load()}
	for i, k := range p.sinks {
		s.Sinks = append(s.Sinks, SinkSummary{Name: k.Name, Written: p.written[i].Load(), Failed: p.failed[i].Load()})
	}
	return s
}

// Summary is the pipeline's Summary with the alerts of its policy stages.
func (b *Built) Summary() Summary {
	s := b.Pipeline.Summary()
	for _, ps := range b.Policies {
		if t := ps.Transform(); t != nil { // nil: records pass through
			s.Alerts += int64(t.Stats().Matched)
		}
	}
	return s
}

// LogValue renders the summary as log attributes: records, events, alerts
// and, in a group sinks, a group per sink (by name) with its written and failed counts.
func (s Summary) LogValue() slog.Value {
	sinks := make([]any, 0, len(s.Sinks))
	for _, k := range s.Sinks {
		sinks = append(sinks, slog.Group(k.Name, "written", k.Written, "failed", k.Failed))
	}
	return slog.GroupValue(slog.Int64("records", s.Records), slog.Int64("events", s.Events),
		slog.Int64("alerts", s.Alerts), slog.Group("sinks", sinks...))
}
