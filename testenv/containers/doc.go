// Package containers starts sfconnector and the services of its compose
// stack (Kafka in KRaft mode, a Confluent schema registry, NATS with
// JetStream) as Docker containers with testcontainers-go, so that an
// integration test can run sfconnector the way users deploy it: the image
// built from the repository's Dockerfile, a configuration file, real
// brokers.
//
//	nw, _ := network.New(ctx)
//	kafka, _ := containers.RunKafka(ctx, containers.KafkaImage, network.WithNetwork([]string{"kafka"}, nw))
//	reg, _ := containers.RunRegistry(ctx, containers.RegistryImage, kafka.InternalBootstrap(), network.WithNetwork([]string{"registry"}, nw))
//	sfc, _ := containers.Run(ctx, "", containers.FromRepository("."),
//		containers.WithConfigFile("consumer.yaml"), network.WithNetwork(nil, nw))
//
// It is a separate Go module, so that the main module does not depend on
// Docker's client libraries; it needs a Docker engine (its tests skip
// without one). The images match docker-compose.yml, which a test of the
// main module checks. For tests without Docker, package testenv starts the
// same kinds of services in-process.
package containers
