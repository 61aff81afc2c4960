package syslog_test

import (
	"log"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/encoding/ecs"
	"github.com/sfconnector/sfconnector/sinks/syslog"
	"github.com/sfconnector/sfconnector/sysflow"
)

// A sink sending ECS documents to a TLS receiver that checks client
// certificates. (Not run: it needs a receiver.)
func ExampleNew() {
	enc, err := ecs.New(ecs.Config{AgentVersion: "1.0.0"})
	if err != nil {
		log.Fatal(err)
	}
	sink, err := syslog.New(syslog.Config{
		Proto: "tcp+tls",
		Host:  "siem.example.com",
		Port:  6514,
		TLS: syslog.TLSConfig{
			CAFile:   "/etc/sfconnector/ca.pem",
			CertFile: "/etc/sfconnector/client.pem",
			KeyFile:  "/etc/sfconnector/client-key.pem",
		},
		Severity: syslog.SeverityMap{High: "alert"},
		Encoder:  enc,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close()

	msg := sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Events: []*sysflow.Event{ /* ... */ }})
	if err := sink.Publish("alerts", msg); err != nil {
		log.Print(err) // the router would retry, then dead-letter
	}
}
