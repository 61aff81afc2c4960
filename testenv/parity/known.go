package parity

// Known returns the pinned counts of accepted differences for a trace of
// ../shared/traces, and whether the trace is known. They are the counts the
// comparison found when each category was established (decode -> flatten ->
// JSON, checked record by record against the reference); the command
// line's file and socket paths must find the same ones. A category absent
// from a trace's map is pinned at zero.
func Known(trace string) (map[Category]int, bool) {
	c, ok := known()[trace]
	return c, ok
}

func known() map[string]map[Category]int {
	return map[string]map[Category]int{
		"collector-alpine-alpine":                   {FlowDoubled: 12, StaleProc: 9},
		"collector-client-server-tcp-client-server": {FlowDoubled: 4},
		"collector-files-files":                     {FlowDoubled: 5},
		"collector-files-filesat":                   {FlowDoubled: 5},
		"collector-mpm-event-cold_start_capture":    {FlowDoubled: 75},
		"collector-namespaces-setns":                {FlowDoubled: 151, StaleProc: 328},
		"collector-nginx-nginx":                     {FlowDoubled: 21},
		"collector-rename-rename":                   {FlowDoubled: 9},
		"collector-rename-rename2at":                {FlowDoubled: 7},
		"httpd":                                     {FlowDoubled: 4},
		"k8s_small": {OpNames: 486, FlowDoubled: 4115, Quotes: 86, StaleProc: 1190, Placeholder: 209,
			FEFd: 1},
		"mon.1531776682": {FlowDoubled: 9283, Quotes: 18386, StaleProc: 18221},
		"shellshock":     {FlowDoubled: 22, StaleProc: 33},
		"tcp":            {FlowDoubled: 4},
	}
}
