// Package config loads sfconnector pipeline configurations: sf-processor's
// pipeline.json, accepted unchanged, and a YAML file of the same structure.
//
// A configuration is a source (the "drivers" section, or the command line)
// and a graph of plugins connected by named channels: the reader/flattener,
// policy engines and exporters. Loading resolves the graph into a tree rooted
// at the flattener, applies the <PLUGIN>_<KEY> environment overrides, and
// keeps each plugin's keys as strings. The components that consume a plugin
// read its keys through a Keys value, which reports unknown keys and bad
// values naming the file, the plugin and the key.
//
// It does not build components: the connector package does.
package config
