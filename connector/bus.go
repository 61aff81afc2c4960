package connector

import (
	"context"
	"fmt"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/encoding"
)

func buildBusSource(driver string, plug *config.Plugin, opts Options) (Source, error) {
	return nil, fmt.Errorf("%s: unknown source driver %q (file, socket, kafka, nats)", plug.Where, driver)
}

func buildBusSink(ctx context.Context, export string, n *config.Node, k *config.Keys, enc encoding.Encoder, opts Options) (*Sink, error) {
	return nil, fmt.Errorf("%s: exporter %q is not available", n.Where, export)
}
