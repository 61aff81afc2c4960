package connector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sfconnector/sfconnector/sources/socket"
)

// statsCollector reads counters the components keep themselves (policy
// matches per rule, socket drops) at scrape time, so the hot path pays
// nothing for them.
type statsCollector struct {
	policies []*PolicyStage
	source   Source

	ruleMatches *prometheus.Desc
	policyRecs  *prometheus.Desc
	socketMsgs  *prometheus.Desc
	socketDrops *prometheus.Desc
	socketConns *prometheus.Desc
}

func newStatsCollector(policies []*PolicyStage, src Source) *statsCollector {
	return &statsCollector{
		policies: policies,
		source:   src,
		ruleMatches: prometheus.NewDesc("sfconnector_policy_rule_matches_total",
			"Records matched by each policy rule.", []string{"stage", "rule"}, nil),
		policyRecs: prometheus.NewDesc("sfconnector_policy_records_total",
			"Records through each policy stage, by outcome (in, dropped by filters, matched, emitted).", []string{"stage", "outcome"}, nil),
		socketMsgs: prometheus.NewDesc("sfconnector_socket_messages_total",
			"Messages read from the collector socket.", nil, nil),
		socketDrops: prometheus.NewDesc("sfconnector_socket_dropped_total",
			"Collector socket messages skipped, by reason (malformed, oversized); each is also logged.", []string{"reason"}, nil),
		socketConns: prometheus.NewDesc("sfconnector_socket_connections_total",
			"Collector connections accepted.", nil, nil),
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ruleMatches
	ch <- c.policyRecs
	ch <- c.socketMsgs
	ch <- c.socketDrops
	ch <- c.socketConns
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.policies {
		t := p.Transform()
		if t == nil {
			continue
		}
		for _, rc := range t.RuleMatches() {
			ch <- prometheus.MustNewConstMetric(c.ruleMatches, prometheus.CounterValue, float64(rc.Matches), p.name, rc.Rule)
		}
		st := t.Stats()
		for _, o := range []struct {
			name string
			v    uint64
		}{{"in", st.Records}, {"dropped", st.Dropped}, {"matched", st.Matched}, {"emitted", st.Emitted}} {
			ch <- prometheus.MustNewConstMetric(c.policyRecs, prometheus.CounterValue, float64(o.v), p.name, o.name)
		}
	}
	if s, ok := c.source.(*socket.Source); ok {
		st := s.Stats()
		ch <- prometheus.MustNewConstMetric(c.socketMsgs, prometheus.CounterValue, float64(st.Messages))
		ch <- prometheus.MustNewConstMetric(c.socketDrops, prometheus.CounterValue, float64(st.Malformed), "malformed")
		ch <- prometheus.MustNewConstMetric(c.socketDrops, prometheus.CounterValue, float64(st.Oversized), "oversized")
		ch <- prometheus.MustNewConstMetric(c.socketConns, prometheus.CounterValue, float64(st.Connections))
	}
}
