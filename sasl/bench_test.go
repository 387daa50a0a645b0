package sasl_test

import (
	"testing"

	"github.com/gsskit/gsskit/sasl"
)

// The layer's per-packet cost with Kerberos: Encode on one side and Decode
// on the other, appending into reused buffers.
func BenchmarkLayer(b *testing.B) {
	r := krbRealmB(b)
	cred := acceptorCredB(b, r)
	for _, layer := range []sasl.Layer{sasl.LayerIntegrity, sasl.LayerConfidentiality} {
		b.Run(layer.String(), func(b *testing.B) {
			c, _ := sasl.NewClient(&sasl.ClientConfig{Service: "kafka", Host: "localhost", Layers: layer})
			s, _ := sasl.NewServer(&sasl.ServerConfig{Credential: cred, Layers: sasl.LayerAll})
			if _, err := run(b, c, s); err != nil {
				b.Fatal(err)
			}
			cs, ss := c.Session(), s.Session()
			msg := make([]byte, 16<<10)
			var pkt, out []byte
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var err error
				if pkt, err = cs.Encode(pkt[:0], msg); err != nil {
					b.Fatal(err)
				}
				if out, err = ss.Decode(out[:0], pkt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExchange is one whole RFC 4752 exchange with mutual
// authentication, client and server in one process.
func BenchmarkExchange(b *testing.B) {
	r := krbRealmB(b)
	cred := acceptorCredB(b, r)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c, _ := sasl.NewClient(&sasl.ClientConfig{Service: "kafka", Host: "localhost"})
		s, _ := sasl.NewServer(&sasl.ServerConfig{Credential: cred})
		if _, err := run(b, c, s); err != nil {
			b.Fatal(err)
		}
	}
}
