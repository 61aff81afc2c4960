// Package docs holds no code: it is the home of the user documentation
// (Markdown and the Grafana dashboard) and of the test that keeps the
// references in it true to the code: the configuration keys with their
// defaults and environment overrides (config.Specs), the policy fields (the
// sysflow field registry), the Prometheus metrics (connector/metrics.go),
// and every link between the documents.
package docs
