package kafka

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestSaramaLegacyCodecs: sarama speaking Kafka 0.10.0 (Produce v2 and
// Fetch v2 without ApiVersions, so magic 1 message sets) through the
// gateway with each codec: the magic 1 half of what TestKcatLegacyCodecs
// does with librdkafka at magic 0. Sarama reads lz4 with pierrec/lz4,
// which checks the frame header's checksum, and snappy with its own
// snappy-java reader.
func TestSaramaLegacyCodecs(t *testing.T) {
	codecs := []struct {
		name string
		c    sarama.CompressionCodec
	}{{"gzip", sarama.CompressionGZIP}, {"snappy", sarama.CompressionSnappy}, {"lz4", sarama.CompressionLZ4}}
	var topics []string
	for _, c := range codecs {
		topics = append(topics, "sarama-legacy-"+c.name)
	}
	e := startKafka(t, 0, topics...)
	d := &SaramaDialer{Config: &ClientConfig{}}
	for i, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			cfg := saramaConfig(d)
			cfg.Version = sarama.V0_10_0_0
			cfg.ApiVersionsRequest = false
			cfg.Producer.Compression = c.c
			// Several messages to a wrapper, and the rest at once.
			cfg.Producer.Flush.Messages = 10
			cfg.Producer.Flush.Frequency = 10 * time.Millisecond
			p, err := sarama.NewAsyncProducer([]string{e.addr}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for j := 0; j < 30; j++ {
				v := fmt.Sprintf("%s %d %s", topics[i], j, strings.Repeat("abc", j*j*10))
				want = append(want, v)
				p.Input() <- &sarama.ProducerMessage{Topic: topics[i], Value: sarama.StringEncoder(v)}
			}
			timeout := time.After(time.Minute)
			for j := range want {
				select {
				case <-p.Successes():
				case err := <-p.Errors():
					t.Fatal(err)
				case <-timeout:
					t.Fatalf("%d of %d produced", j, len(want))
				}
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			got := consumeSaramaWith(t, e, cfg, topics[i], len(want))
			for j := range want {
				if got[j] != want[j] {
					t.Fatalf("message %d: consumed %d bytes, produced %d", j, len(got[j]), len(want[j]))
				}
			}
			stored := storedCodecs(t, e, topics[i], len(want))
			delete(stored, 0)
			if len(stored) != 1 || !stored[uint8(c.c)] {
				t.Fatalf("the broker holds compressed batches of codecs %v, want %d", stored, c.c)
			}
		})
	}
}
