//go:build e2e

package e2e

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicRecord is one Kafka message of the edge's topic, decoded by the
// test's own Confluent wire-format reader.
type topicRecord struct {
	partition int32
	offset    int64
	key       string
	schemaID  uint32
	id        string // flatID of the decoded flat event
}

// registryCodecs fetches writer schemas from the registry by id, over
// plain HTTP (GET /schemas/ids/ID), and keeps one goavro codec per id.
type registryCodecs struct {
	url    string
	client *http.Client
	codecs map[uint32]*goavro.Codec
}

func newRegistryCodecs(url string) *registryCodecs {
	return &registryCodecs{url: strings.TrimRight(url, "/"), client: &http.Client{Timeout: 10 * time.Second},
		codecs: map[uint32]*goavro.Codec{}}
}

func (r *registryCodecs) codec(ctx context.Context, id uint32) (*goavro.Codec, error) {
	if c, ok := r.codecs[id]; ok {
		return c, nil
	}
	u := fmt.Sprintf("%s/schemas/ids/%d", r.url, id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, body)
	}
	var sch struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
	}
	if err := json.Unmarshal(body, &sch); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if sch.SchemaType != "" && sch.SchemaType != "AVRO" {
		return nil, fmt.Errorf("schema %d is %s, not AVRO", id, sch.SchemaType)
	}
	c, err := goavro.NewCodec(sch.Schema)
	if err != nil {
		return nil, fmt.Errorf("schema %d: goavro: %w", id, err)
	}
	r.codecs[id] = c
	return c, nil
}

// subjectIDs returns the schema ids registered under a subject, asked over
// plain HTTP (GET /subjects/SUBJECT/versions/V for each version).
func (r *registryCodecs) subjectIDs(ctx context.Context, subject string) ([]uint32, error) {
	get := func(path string, v any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url+path, nil)
		if err != nil {
			return err
		}
		resp, err := r.client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
		}
		return json.Unmarshal(body, v)
	}
	var versions []int
	if err := get("/subjects/"+subject+"/versions", &versions); err != nil {
		return nil, err
	}
	var ids []uint32
	for _, v := range versions {
		var s struct {
			ID uint32 `json:"id"`
		}
		if err := get(fmt.Sprintf("/subjects/%s/versions/%d", subject, v), &s); err != nil {
			return nil, err
		}
		ids = append(ids, s.ID)
	}
	return ids, nil
}

// decodeFlat parses the Confluent wire format (magic byte 0, 4-byte
// big-endian schema id, Avro body) and decodes the body with the writer
// schema from the registry.
func (r *registryCodecs) decodeFlat(ctx context.Context, value []byte) (uint32, map[string]any, error) {
	if len(value) < 5 {
		return 0, nil, fmt.Errorf("value of %d bytes has no wire-format header", len(value))
	}
	if value[0] != 0 {
		return 0, nil, fmt.Errorf("magic byte %d, want 0", value[0])
	}
	id := binary.BigEndian.Uint32(value[1:5])
	c, err := r.codec(ctx, id)
	if err != nil {
		return id, nil, err
	}
	native, rest, err := c.NativeFromBinary(value[5:])
	if err != nil {
		return id, nil, fmt.Errorf("schema %d: %w", id, err)
	}
	if len(rest) > 0 {
		return id, nil, fmt.Errorf("schema %d: %d bytes left after the datum", id, len(rest))
	}
	m, ok := native.(map[string]any)
	if !ok {
		return id, nil, fmt.Errorf("schema %d: datum is %T, not a record", id, native)
	}
	return id, m, nil
}

// flatIDOf builds the identity of a decoded Avro flat event (field names
// of encoding/avro/schemas/event.avsc).
func flatIDOf(m map[string]any) flatID {
	rec := func(v any) map[string]any {
		r, _ := unwrap(v).(map[string]any)
		return r
	}
	id := flatID{typ: str(m["type"]), ts: num(m["ts"]), endts: num(m["endts"]), ret: num(m["ret"])}
	id.node = str(rec(m["node"])["id"])
	if p := rec(m["proc"]); p != nil {
		id.pid, id.tid, id.createts = num(p["pid"]), num(p["tid"]), num(p["createts"])
	}
	if f := rec(m["file"]); f != nil {
		id.fileOID, id.newFileOID = str(f["oid"]), str(f["newoid"])
	}
	if f := rec(m["flow"]); f != nil {
		id.rops, id.wops, id.rbytes, id.wbytes = num(f["rops"]), num(f["wops"]), num(f["rbytes"]), num(f["wbytes"])
	}
	if n := rec(m["net"]); n != nil {
		id.sport, id.dport, id.proto = num(n["sport"]), num(n["dport"]), num(n["proto"])
	}
	id.args = strings.Join(strs(m["args"]), "\x00")
	if k := rec(m["ke"]); k != nil {
		id.args = str(k["message"])
	}
	return id
}

// readTopic reads every message of topic with franz-go, from the start to
// the end offsets asked first, and decodes each value. Values that do not
// decode are returned as errors, one per message (at most 20 kept).
// known interns the identities: each flat event appears once per round, so
// the records share the expected strings instead of holding copies.
func readTopic(ctx context.Context, brokers []string, topic string, reg *registryCodecs, known map[string]string) ([]topicRecord, []string, error) {
	end, err := endOffsets(ctx, brokers, topic)
	if err != nil {
		return nil, nil, err
	}
	want := int64(0)
	for _, e := range end {
		want += e
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(4<<20), kgo.FetchMaxPartitionBytes(1<<20),
		kgo.MaxConcurrentFetches(1))
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	var recs []topicRecord
	var bad []string
	nbad := 0
	seen := int64(0)
	for seen < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return recs, bad, fmt.Errorf("read %d of %d messages of %s: %w", seen, want, topic, ctx.Err())
		}
		for _, fe := range fs.Errors() {
			return recs, bad, fmt.Errorf("fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			if r.Offset >= end[r.Partition] {
				continue
			}
			seen++
			id, m, err := reg.decodeFlat(ctx, r.Value)
			if err != nil {
				nbad++
				if len(bad) < 20 {
					bad = append(bad, fmt.Sprintf("partition %d offset %d: %v", r.Partition, r.Offset, err))
				}
				continue
			}
			key, fid := string(r.Key), flatIDOf(m).String()
			if k, ok := known[key]; ok {
				key = k
			}
			if k, ok := known[fid]; ok {
				fid = k
			}
			recs = append(recs, topicRecord{partition: r.Partition, offset: r.Offset, key: key, schemaID: id, id: fid})
		}
	}
	if nbad > len(bad) {
		bad = append(bad, fmt.Sprintf("... %d undecodable messages in all", nbad))
	}
	return recs, bad, nil
}

// endOffsets returns each partition's end offset.
func endOffsets(ctx context.Context, brokers []string, topic string) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	md.Topics = append(md.Topics, mt)
	mresp, err := md.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	for _, t := range mresp.Topics {
		for _, p := range t.Partitions {
			lp := kmsg.NewListOffsetsRequestTopicPartition()
			lp.Partition = p.Partition
			lp.Timestamp = -1 // the end
			lt.Partitions = append(lt.Partitions, lp)
		}
	}
	if len(lt.Partitions) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions", topic)
	}
	lo.Topics = append(lo.Topics, lt)
	lresp, err := lo.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	end := map[int32]int64{}
	for _, rt := range lresp.Topics {
		for _, p := range rt.Partitions {
			if p.ErrorCode != 0 {
				return nil, fmt.Errorf("list offsets of %s/%d: error code %d", topic, p.Partition, p.ErrorCode)
			}
			end[p.Partition] = p.Offset
		}
	}
	return end, nil
}

// committedOffsets returns the group's committed offset of each partition
// (-1 where none).
func committedOffsets(ctx context.Context, brokers []string, group, topic string, partitions []int32) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = group
	oft := kmsg.NewOffsetFetchRequestTopic()
	oft.Topic = topic
	oft.Partitions = partitions
	of.Topics = append(of.Topics, oft)
	resp, err := of.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("offset fetch of group %s: error code %d", group, resp.ErrorCode)
	}
	committed := map[int32]int64{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			committed[p.Partition] = p.Offset
		}
	}
	return committed, nil
}
