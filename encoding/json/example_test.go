package json_test

import (
	"fmt"
	"io"
	"log/slog"

	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// Flatten a few records of one stream, read fields of the flat event by
// name (as policies do) and write it in the reference's JSON shape.
func Example() {
	sh := &sysflow.Process{OID: sysflow.OID{Hpid: 7955}, Exe: "/usr/bin/bash"}
	srv := &sysflow.Process{OID: sysflow.OID{Hpid: 13823}, POID: &sh.OID, Exe: "./server", ExeArgs: "-p 8080"}
	records := []sysflow.Record{
		{Kind: sysflow.KindHeader, Header: &sysflow.Header{Version: 5, Exporter: "node1", IP: "10.0.0.5"}},
		{Kind: sysflow.KindProcess, Process: sh},
		{Kind: sysflow.KindProcess, Process: srv},
		{Kind: sysflow.KindNetworkFlow, NetworkFlow: &sysflow.NetworkFlow{ProcOID: srv.OID, TS: 1, EndTS: 2, TID: 13823,
			OpFlags: sysflow.OpAccept | sysflow.OpReadRecv, SIP: 16777343, SPort: 40556, DIP: 16777343, DPort: 8080, Proto: 6}},
	}
	f := flatten.New(flatten.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	events := f.Flatten(records, nil)

	for _, name := range []string{"sf.proc.cmdline", "proc.pname", "sf.net.dip", "sf.opflags"} {
		field, _ := sysflow.LookupField(name)
		fmt.Printf("%s = %s\n", name, field.Text(events[0]))
	}
	out, _ := sfjson.New(sfjson.Options{}).AppendEvent(nil, events[0])
	fmt.Println(string(out))
	// Output:
	// sf.proc.cmdline = ./server -p 8080
	// proc.pname = bash
	// sf.net.dip = 127.0.0.1
	// sf.opflags = ACCEPT,RECV
	// {"version":5,"endts":2,"opflags":["ACCEPT","RECV"],"ret":0,"ts":1,"type":"NF","flow":{"rbytes":0,"rops":0,"wbytes":0,"wops":0},"meta":{"schema":5,"tracename":"."},"net":{"dip":"127.0.0.1","dport":8080,"ip":["127.0.0.1","127.0.0.1"],"port":[40556,8080],"proto":6,"sip":"127.0.0.1","sport":40556},"node":{"id":"node1","ip":"10.0.0.5"},"pproc":{"args":"","cmdline":"/usr/bin/bash","createts":0,"entry":false,"exe":"/usr/bin/bash","gid":0,"group":"","name":"bash","oid":"d98bb3dff5aeffc9","pid":7955,"tty":false,"uid":0,"user":""},"proc":{"acmdline":["./server -p 8080","/usr/bin/bash"],"aexe":["./server","/usr/bin/bash"],"aname":["server","bash"],"apid":[13823,7955],"args":"-p 8080","cmdline":"./server -p 8080","createts":0,"entry":false,"exe":"./server","gid":0,"group":"","name":"server","oid":"c2f5f8c25e766cd4","pid":13823,"tid":13823,"tty":false,"uid":0,"user":""}}
}
