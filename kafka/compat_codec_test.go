package kafka

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The legacy conversion's codecs, checked against other implementations
// of the same formats: pierrec/lz4's frame reader and writer, franz-go's
// decompressor (its own snappy-java reader) and compressor.

var allCodecs = []byte{codecGzip, codecSnappy, codecLZ4}

// sample is data that compresses some and spans several lz4 blocks and
// snappy-java chunks.
func sample(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, "record %d %x\n", r.IntN(1000), r.Uint32()&0xff)
	}
	return b.Bytes()[:n]
}

func noise(n int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestXXH32(t *testing.T) {
	for in, want := range map[string]uint32{
		"":    0x02cc5d05,
		"abc": 0x32d153ff,
		"Nobody inspects the spammish repetition": 0xe2293b2f,
	} {
		if got := xxh32([]byte(in)); got != want {
			t.Errorf("xxh32(%q) = %#x, want %#x", in, got, want)
		}
	}
}

func TestLZ4Frame(t *testing.T) {
	for _, data := range [][]byte{{}, []byte("x"), sample(200 << 10), noise(70 << 10)} {
		frame := appendLZ4Frame(nil, data, false)
		// Kafka's Lz4BlockOutputStream header: magic, FLG 0x60, BD 0x40.
		if !bytes.Equal(frame[:6], []byte{0x04, 0x22, 0x4d, 0x18, 0x60, 0x40}) {
			t.Fatalf("header % x", frame[:7])
		}
		got, err := io.ReadAll(lz4.NewReader(bytes.NewReader(frame)))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("pierrec/lz4 reads %d of %d bytes: %v", len(got), len(data), err)
		}
		for magic := int8(0); magic <= 2; magic++ {
			if got, err := unlz4(frame, magic, maxDecompressed); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("magic %d: %v", magic, err)
			}
		}
		// The magic 0 frame differs in HC alone, which a correct reader
		// refuses, and both Kafka and librdkafka take for magic 0.
		broken := appendLZ4Frame(nil, data, true)
		if broken[6] == frame[6] || !bytes.Equal(broken[7:], frame[7:]) {
			t.Fatalf("broken HC %#x, correct %#x", broken[6], frame[6])
		}
		if broken[6] != byte(xxh32(broken[:6])>>8) {
			t.Fatal("broken HC not over magic, FLG and BD")
		}
		if _, err := io.ReadAll(lz4.NewReader(bytes.NewReader(broken))); err == nil {
			t.Fatal("pierrec/lz4 took the broken HC")
		}
		if got, err := unlz4(broken, 0, maxDecompressed); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("magic 0 broken HC: %v", err)
		}
		for magic := int8(1); magic <= 2; magic++ {
			if _, err := unlz4(broken, magic, maxDecompressed); err == nil {
				t.Fatalf("magic %d took the broken HC", magic)
			}
		}
	}
	// Frames of another writer, with what Kafka's reader also takes:
	// content size, block and content checksums, larger blocks.
	data := sample(300 << 10)
	for _, opts := range [][]lz4.Option{
		{lz4.BlockSizeOption(lz4.Block64Kb)},
		{lz4.BlockSizeOption(lz4.Block256Kb), lz4.ChecksumOption(true), lz4.BlockChecksumOption(true)},
		{lz4.BlockSizeOption(lz4.Block1Mb), lz4.SizeOption(uint64(len(data)))},
		{lz4.BlockSizeOption(lz4.Block4Mb), lz4.ChecksumOption(false)},
	} {
		var b bytes.Buffer
		w := lz4.NewWriter(&b)
		if err := w.Apply(opts...); err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
		if got, err := unlz4(b.Bytes(), 1, maxDecompressed); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%v: %v", opts, err)
		}
		if _, err := unlz4(b.Bytes(), 1, len(data)-1); err != errTooLarge {
			t.Fatalf("%v: above the limit: %v", opts, err)
		}
		flipped := bytes.Clone(b.Bytes())
		flipped[len(flipped)/2] ^= 1
		unlz4(flipped, 1, maxDecompressed) // an error or other data, never a panic
	}
}

func TestLZ4FrameBad(t *testing.T) {
	frame := appendLZ4Frame(nil, sample(100<<10), false)
	for n := range len(frame) {
		if _, err := unlz4(frame[:n], 1, maxDecompressed); err == nil {
			t.Fatalf("%d of %d bytes taken", n, len(frame))
		}
	}
	if _, err := unlz4(append(bytes.Clone(frame), 0), 1, maxDecompressed); err == nil {
		t.Fatal("trailing byte taken")
	}
	withFLG := func(flg byte) []byte {
		f := bytes.Clone(frame)
		f[4] = flg
		f[6] = lz4HC(f[:6], false)
		return f
	}
	for _, flg := range []byte{0x40 /* dependent blocks */, 0x61 /* dictionary */, 0xa0 /* version 2 */, 0x62 /* reserved */} {
		if _, err := unlz4(withFLG(flg), 1, maxDecompressed); err == nil {
			t.Errorf("FLG %#x taken", flg)
		}
	}
	bomb := appendLZ4Frame(nil, make([]byte, 1<<20), false)
	if _, err := unlz4(bomb, 1, 1<<20-1); err != errTooLarge {
		t.Fatalf("bomb: %v", err)
	}
}

func TestSnappy(t *testing.T) {
	for _, data := range [][]byte{[]byte("x"), sample(100 << 10), noise(40 << 10)} {
		framed, err := compress(codecSnappy, 1, data)
		if err != nil {
			t.Fatal(err)
		}
		// snappy-java's SnappyOutputStream header: magic, version 1,
		// minimum compatible version 1.
		want := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
		if !bytes.Equal(framed[:16], want) {
			t.Fatalf("header % x", framed[:16])
		}
		got, err := kgo.DefaultDecompressor().Decompress(framed, kgo.CodecSnappy)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("franz-go reads: %v", err)
		}
		for name, in := range map[string][]byte{
			"snappy-java":     framed,
			"raw":             snappy.Encode(nil, data),
			"two streams":     append(bytes.Clone(framed), framed...),
			"version 2 field": append(append(bytes.Clone(want[:11]), 2), framed[12:]...),
		} {
			want := data
			if name == "two streams" {
				want = append(bytes.Clone(data), data...)
			}
			if got, err := unsnappy(in, maxDecompressed); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s: %v", name, err)
			}
		}
		// Cut between blocks the stream is shorter but well formed, as
		// for snappy-java; anywhere else it is an error.
		for n := 1; n < len(framed); n++ {
			if got, err := unsnappy(framed[:n], maxDecompressed); err == nil && !bytes.HasPrefix(data, got) {
				t.Fatalf("%d of %d bytes: %d bytes out", n, len(framed), len(got))
			}
		}
	}
	bad := map[string][]byte{
		"version 0":       append(bytes.Clone(xerialMagic), 0, 0, 0, 0, 0, 0, 0, 1),
		"short header":    append(bytes.Clone(xerialMagic), 0, 0, 0, 1),
		"short length":    append(append(bytes.Clone(xerialMagic), 0, 0, 0, 1, 0, 0, 0, 1), 0, 0),
		"long block":      append(append(bytes.Clone(xerialMagic), 0, 0, 0, 1, 0, 0, 0, 1), 0, 0, 0, 9, 1),
		"4 GiB claimed":   {0xff, 0xff, 0xff, 0xff, 0x0f, 0},
		"ratio above 32x": {0x80, 0x08, 0},
		"garbage":         []byte("not snappy at all"),
	}
	for name, in := range bad {
		if _, err := unsnappy(in, maxDecompressed); err == nil {
			t.Errorf("%s taken", name)
		}
	}
	if _, err := unsnappy(snappy.Encode(nil, make([]byte, 1000)), 999); err != errTooLarge {
		t.Fatalf("above the limit: %v", err)
	}
}

func TestGzipZstdLimits(t *testing.T) {
	zeros := make([]byte, 1000)
	gz, _ := compress(codecGzip, 1, zeros)
	if got, err := gunzip(gz, 1000); err != nil || len(got) != 1000 {
		t.Fatalf("at the limit: %v", err)
	}
	if _, err := gunzip(gz, 999); err != errTooLarge {
		t.Fatalf("above the limit: %v", err)
	}
	enc, _ := zstd.NewWriter(nil)
	zs := enc.EncodeAll(zeros, nil)
	if got, err := decompress(codecZstd, 2, zs, 1000); err != nil || len(got) != 1000 {
		t.Fatalf("zstd: %v", err)
	}
	if _, err := decompress(codecZstd, 2, zs, 999); err == nil {
		t.Fatal("zstd above the limit")
	}
	big := enc.EncodeAll(make([]byte, maxDecompressed+1), nil)
	if _, err := decompress(codecZstd, 2, big, maxDecompressed); err == nil {
		t.Fatal("zstd above maxDecompressed")
	}
	for _, magic := range []int8{0, 1} {
		if _, err := decompress(codecZstd, magic, zs, 1000); err == nil {
			t.Fatalf("zstd in magic %d", magic)
		}
	}
	for _, c := range []byte{5, 6, 7} {
		if _, err := decompress(c, 2, zs, 1000); err == nil {
			t.Fatalf("codec %d", c)
		}
	}
}

type testMsg struct {
	ts         int64
	key, value []byte
}

var testMsgs = []testMsg{
	{1700000000000, nil, []byte("first")},
	{1700000000005, []byte("k"), []byte{}},
	{1700000000001, []byte("key"), sample(150 << 10)},
}

// wrapped is a message set of one compressed wrapper message holding msgs
// with offsets 0..n-1, as a producer writes it.
func wrapped(t *testing.T, magic int8, codec byte, broken bool) []byte {
	t.Helper()
	var inner []byte
	for i, m := range testMsgs {
		inner = appendMessage(inner, int64(i), magic, m.ts, m.key, m.value)
	}
	var value []byte
	switch codec {
	case codecLZ4:
		value = appendLZ4Frame(nil, inner, broken)
	case codecSnappy:
		if broken { // librdkafka's raw snappy
			value = snappy.Encode(nil, inner)
			break
		}
		fallthrough
	default:
		var err error
		if value, err = compress(codec, magic, inner); err != nil {
			t.Fatal(err)
		}
	}
	return appendMessageAttrs(nil, int64(len(testMsgs)-1), magic, codec, 1700000000005, nil, value)
}

// checkRecords compares records read back with testMsgs.
func checkRecords(t *testing.T, magic int8, got []plainRecord) {
	t.Helper()
	if len(got) != len(testMsgs) {
		t.Fatalf("%d records", len(got))
	}
	for i, m := range testMsgs {
		ts := m.ts
		if magic == 0 {
			ts = -1
		}
		g := got[i]
		if g.ts != ts || !bytes.Equal(g.key, m.key) || (g.key == nil) != (m.key == nil) || !bytes.Equal(g.value, m.value) {
			t.Fatalf("record %d: ts %d key %q, %d value bytes", i, g.ts, g.key, len(g.value))
		}
	}
}

// batchRecords reads a batch with franz-go's decompressor.
func batchRecords(t *testing.T, batch []byte) (kmsg.RecordBatch, []batchRecord) {
	t.Helper()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil {
		t.Fatal(err)
	}
	if rb.CRC != int32(crc32.Checksum(batch[21:], crc32c)) {
		t.Fatal("batch CRC")
	}
	raw, err := kgo.DefaultDecompressor().Decompress(rb.Records, kgo.CompressionCodecType(rb.Attributes&7))
	if err != nil {
		t.Fatal(err)
	}
	var out []batchRecord
	for range rb.NumRecords {
		r, rest, err := readRecord(raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
		raw = rest
	}
	return rb, out
}

func TestMessageSetCodecs(t *testing.T) {
	for _, magic := range []int8{0, 1} {
		for _, codec := range allCodecs {
			for _, broken := range []bool{false, true} {
				if broken && codec == codecGzip {
					continue
				}
				name := fmt.Sprintf("magic %d %s", magic, codecName(codec))
				if broken {
					name += map[byte]string{codecLZ4: " broken HC", codecSnappy: " raw"}[codec]
				}
				t.Run(name, func(t *testing.T) {
					set := wrapped(t, magic, codec, broken)
					batch, err := messageSetToBatch(set)
					if codec == codecLZ4 && broken && magic == 1 {
						if err == nil {
							t.Fatal("broken HC taken in magic 1")
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					rb, recs := batchRecords(t, batch)
					if rb.Attributes&7 != int16(codec) || rb.NumRecords != 3 || rb.LastOffsetDelta != 2 {
						t.Fatalf("batch %+v", rb)
					}
					for i, r := range recs {
						if r.offsetDelta != int64(i) || !bytes.Equal(r.value, testMsgs[i].value) {
							t.Fatalf("record %d", i)
						}
					}
					// Back, as fetched at offset 100.
					binary.BigEndian.PutUint64(batch, 100)
					back, err := batchesToMessageSet(batch, magic)
					if err != nil {
						t.Fatal(err)
					}
					checkWrapper(t, back, magic, codec, 100)
				})
			}
		}
	}
}

// checkWrapper checks a down-converted message set: one wrapper of codec
// at the last offset, inner offsets relative for magic 1, absolute for
// magic 0, and the records.
func checkWrapper(t *testing.T, set []byte, magic int8, codec byte, base int64) {
	t.Helper()
	n := int64(len(testMsgs))
	if off := int64(binary.BigEndian.Uint64(set)); off != base+n-1 {
		t.Fatalf("wrapper offset %d", off)
	}
	size := int(binary.BigEndian.Uint32(set[8:]))
	if len(set) != 12+size {
		t.Fatalf("%d bytes after the wrapper", len(set)-12-size)
	}
	m := set[12:]
	if int8(m[4]) != magic || m[5]&7 != codec {
		t.Fatalf("wrapper magic %d attributes %#x", m[4], m[5])
	}
	rest := m[6:]
	if magic == 1 {
		if ts := int64(binary.BigEndian.Uint64(rest)); ts != 1700000000005 {
			t.Fatalf("wrapper timestamp %d", ts)
		}
		rest = rest[8:]
	}
	key, rest, _ := readBytes32(rest)
	value, _, _ := readBytes32(rest)
	if key != nil {
		t.Fatal("wrapper key")
	}
	if codec == codecLZ4 {
		hc := byte(xxh32(value[4:6]) >> 8)
		if magic == 0 {
			hc = byte(xxh32(value[:6]) >> 8)
		}
		if value[6] != hc {
			t.Fatalf("magic %d lz4 HC %#x, want %#x", magic, value[6], hc)
		}
	}
	if codec == codecSnappy && !bytes.HasPrefix(value, xerialMagic) {
		t.Fatal("snappy without the snappy-java framing")
	}
	inner, err := decompress(codec, magic, value, maxDecompressed)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); len(inner) > 0; i++ {
		want := base + i
		if magic == 1 {
			want = i
		}
		if off := int64(binary.BigEndian.Uint64(inner)); off != want {
			t.Fatalf("inner offset %d, want %d", off, want)
		}
		inner = inner[12+int(binary.BigEndian.Uint32(inner[8:])):]
	}
	recs, c, err := readMessageSet(set)
	if err != nil || c != codec {
		t.Fatalf("codec %d: %v", c, err)
	}
	checkRecords(t, magic, recs)
}

// franzBatch is a batch as franz-go produces it: records at deltas 0..n-1
// compressed by franz-go's compressor.
func franzBatch(t *testing.T, codec kgo.CompressionCodec, base int64, logAppend bool) []byte {
	t.Helper()
	var raw []byte
	for i, m := range testMsgs {
		var body []byte
		body = append(body, 0)
		body = binary.AppendVarint(body, m.ts-testMsgs[0].ts)
		body = binary.AppendVarint(body, int64(i))
		body = appendVarBytes(body, m.key)
		body = appendVarBytes(body, m.value)
		body = binary.AppendVarint(body, 0)
		raw = binary.AppendVarint(raw, int64(len(body)))
		raw = append(raw, body...)
	}
	c, err := kgo.DefaultCompressor(codec)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	attrs := int16(0)
	if c != nil {
		var typ kgo.CompressionCodecType
		raw, typ = c.Compress(&buf, raw)
		attrs = int16(typ)
	}
	if logAppend {
		attrs |= 0x08
	}
	rb := kmsg.RecordBatch{
		FirstOffset: base, PartitionLeaderEpoch: -1, Magic: 2, Attributes: attrs,
		LastOffsetDelta: int32(len(testMsgs) - 1), FirstTimestamp: testMsgs[0].ts, MaxTimestamp: 1700000000005,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(testMsgs)), Records: raw,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32c))
	return b
}

func TestBatchCodecs(t *testing.T) {
	for _, magic := range []int8{0, 1} {
		for _, cc := range []struct {
			codec kgo.CompressionCodec
			c     byte
		}{{kgo.GzipCompression(), codecGzip}, {kgo.SnappyCompression(), codecSnappy}, {kgo.Lz4Compression(), codecLZ4}} {
			t.Run(fmt.Sprintf("magic %d %s", magic, codecName(cc.c)), func(t *testing.T) {
				set, err := batchesToMessageSet(franzBatch(t, cc.codec, 7, false), magic)
				if err != nil {
					t.Fatal(err)
				}
				checkWrapper(t, set, magic, cc.c, 7)
			})
		}
		// zstd is not for message sets: plain messages instead.
		t.Run(fmt.Sprintf("magic %d zstd", magic), func(t *testing.T) {
			set, err := batchesToMessageSet(franzBatch(t, kgo.ZstdCompression(), 7, false), magic)
			if err != nil {
				t.Fatal(err)
			}
			recs, codec, err := readMessageSet(set)
			if err != nil || codec != codecNone {
				t.Fatalf("codec %d: %v", codec, err)
			}
			checkRecords(t, magic, recs)
			for i := int64(7); len(set) > 0; i++ {
				if off := int64(binary.BigEndian.Uint64(set)); off != i {
					t.Fatalf("offset %d, want %d", off, i)
				}
				set = set[12+int(binary.BigEndian.Uint32(set[8:])):]
			}
		})
	}
	t.Run("log append time", func(t *testing.T) {
		set, err := batchesToMessageSet(franzBatch(t, kgo.Lz4Compression(), 0, true), 1)
		if err != nil {
			t.Fatal(err)
		}
		if set[12+5] != codecLZ4|0x08 {
			t.Fatalf("wrapper attributes %#x", set[12+5])
		}
		recs, _, err := readMessageSet(set)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.ts != 1700000000005 {
				t.Fatalf("timestamp %d", r.ts)
			}
		}
	})
}

func TestMessageSetBad(t *testing.T) {
	inner := appendMessage(nil, 0, 1, 1, nil, []byte("v"))
	wrap := func(codec byte, value []byte) []byte {
		return appendMessageAttrs(nil, 0, 1, codec, 1, nil, value)
	}
	enc, _ := zstd.NewWriter(nil)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(inner)
	zw.Close()
	nested := wrap(codecGzip, mustCompress(t, codecGzip, wrap(codecSnappy, mustCompress(t, codecSnappy, inner))))
	for name, set := range map[string][]byte{
		"zstd in magic 1":   wrap(codecZstd, enc.EncodeAll(inner, nil)),
		"codec 5":           wrap(5, inner),
		"bad gzip":          wrap(codecGzip, gz.Bytes()[:gz.Len()-9]),
		"bad snappy":        wrap(codecSnappy, []byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x05xxxxx")),
		"bad lz4":           wrap(codecLZ4, []byte{4, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 5, 0, 0, 0, 1, 2, 3}),
		"nested":            nested,
		"inner bad CRC":     wrap(codecSnappy, mustCompress(t, codecSnappy, append(inner[:len(inner)-1:len(inner)-1], 'w'))),
		"lz4 truncated":     wrap(codecLZ4, mustCompress(t, codecLZ4, inner)[:10]),
		"snappy truncated":  wrap(codecSnappy, mustCompress(t, codecSnappy, inner)[:20]),
		"gzip not gzip":     wrap(codecGzip, []byte("plain")),
		"zstd wrong magic0": appendMessageAttrs(nil, 0, 0, codecZstd, 0, nil, enc.EncodeAll(inner, nil)),
	} {
		if _, err := messageSetToBatch(set); err == nil {
			t.Errorf("%s converted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// The budget counts every wrapper of the set.
	one := wrap(codecGzip, mustCompress(t, codecGzip, appendMessage(nil, 0, 1, 1, nil, make([]byte, 600))))
	r := setReader{budget: 1000}
	if _, err := r.read(append(bytes.Clone(one), one...), 0); err == nil || !strings.Contains(err.Error(), "MiB") {
		t.Fatalf("two wrappers past the budget: %v", err)
	}
	r = setReader{budget: 1000}
	if _, err := r.read(one, 0); err != nil {
		t.Fatal(err)
	}
}

func mustCompress(t *testing.T, codec byte, data []byte) []byte {
	t.Helper()
	out, err := compress(codec, 1, data)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// zeroBatch is a zstd batch at base holding n records of size zero bytes
// each: a few KiB that inflate to n*size.
func zeroBatch(t *testing.T, base int64, n, size int) []byte {
	t.Helper()
	var raw []byte
	value := make([]byte, size)
	for i := range n {
		var body []byte
		body = append(body, 0)
		body = binary.AppendVarint(body, 0)
		body = binary.AppendVarint(body, int64(i))
		body = appendVarBytes(body, nil)
		body = appendVarBytes(body, value)
		body = binary.AppendVarint(body, 0)
		raw = binary.AppendVarint(raw, int64(len(body)))
		raw = append(raw, body...)
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	rb := kmsg.RecordBatch{
		FirstOffset: base, PartitionLeaderEpoch: -1, Magic: 2, Attributes: codecZstd,
		LastOffsetDelta: int32(n - 1), FirstTimestamp: 1700000000000, MaxTimestamp: 1700000000000,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: enc.EncodeAll(raw, nil),
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32c))
	return b
}

// TestFetchConversionBounded: zstd batches go to old fetchers as plain
// messages, at their inflated size, so a fetch of many small batches that
// each inflate to just under maxDecompressed must not grow the response
// without bound. What one response inflates to in all, over its batches
// and partitions, stays within maxDecompressed; the batches past it are
// left for the client's next fetch, which starts where this one ended.
func TestFetchConversionBounded(t *testing.T) {
	const perBatch = 8 << 20
	var parts []kmsg.FetchResponseTopicPartition
	for p := range int32(2) {
		var batches []byte
		for i := range int64(6) {
			batches = append(batches, zeroBatch(t, i*8, 8, perBatch/8)...)
		}
		part := kmsg.NewFetchResponseTopicPartition()
		part.Partition, part.HighWatermark, part.RecordBatches = p, 48, batches
		parts = append(parts, part)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 4
	topic := kmsg.NewFetchResponseTopic()
	topic.Topic, topic.Partitions = "bomb", parts
	resp.Topics = append(resp.Topics, topic)
	g := &Gateway{log: slog.New(slog.DiscardHandler)}
	for _, version := range []int16{1, 2} {
		out, err := g.downconvert(nil, 7, resp.AppendTo(nil), pending{key: KeyFetch, version: version, sent: 4})
		if err != nil {
			t.Fatal(err)
		}
		_, body, err := ParseResponse(out[4:], KeyFetch, version)
		if err != nil {
			t.Fatal(err)
		}
		back := kmsg.NewPtrFetchResponse()
		back.Version = version
		if err := back.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, p := range back.Topics[0].Partitions {
			total += len(p.RecordBatches)
			// What is there is whole messages from the partition's
			// first offset on.
			recs, _, err := readMessageSet(p.RecordBatches)
			if err != nil || len(p.RecordBatches) > 0 && int64(binary.BigEndian.Uint64(p.RecordBatches)) != 0 {
				t.Fatalf("partition %d: %d records: %v", p.Partition, len(recs), err)
			}
		}
		if total > maxDecompressed {
			t.Fatalf("fetch v%d: %d MiB of messages from %d KiB of batches", version, total>>20, len(resp.AppendTo(nil))>>10)
		}
		if first := back.Topics[0].Partitions[0].RecordBatches; len(first) < perBatch {
			t.Fatalf("fetch v%d: %d bytes in the first partition, not even its first batch", version, len(first))
		}
	}
}

// TestLZ4BlockBuffer: the buffer a compressed block inflates into follows
// the block's own length, not the block size the frame descriptor claims:
// a 30-byte frame that claims 4 MiB blocks costs no 4 MiB.
func TestLZ4BlockBuffer(t *testing.T) {
	frame := []byte{0x04, 0x22, 0x4d, 0x18, lz4FLG, 0x70}
	frame = append(frame, lz4HC(frame, false))
	var c lz4.Compressor
	buf := make([]byte, lz4.CompressBlockBound(64))
	data := bytes.Repeat([]byte("tiny "), 12)
	n, err := c.CompressBlock(data, buf)
	if err != nil || n == 0 || n >= len(data) {
		t.Fatalf("%d %v", n, err)
	}
	frame = binary.LittleEndian.AppendUint32(frame, uint32(n))
	frame = append(frame, buf[:n]...)
	frame = binary.LittleEndian.AppendUint32(frame, 0)
	if got, err := unlz4(frame, 1, maxDecompressed); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%q %v", got, err)
	}
	const runs = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		unlz4(frame, 1, maxDecompressed)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 64<<10 {
		t.Fatalf("a %d-byte frame allocates %d KiB", len(frame), per>>10)
	}
	// The most an lz4 block inflates (runs of one byte), in blocks of
	// each size, still fits.
	zeros := make([]byte, 9<<20)
	for _, size := range []lz4.BlockSize{lz4.Block64Kb, lz4.Block256Kb, lz4.Block1Mb, lz4.Block4Mb} {
		var b bytes.Buffer
		w := lz4.NewWriter(&b)
		if err := w.Apply(lz4.BlockSizeOption(size)); err != nil {
			t.Fatal(err)
		}
		w.Write(zeros)
		w.Close()
		if got, err := unlz4(b.Bytes(), 1, maxDecompressed); err != nil || !bytes.Equal(got, zeros) {
			t.Fatalf("%v: %d bytes, %v", size, len(got), err)
		}
	}
}

// FuzzCodecReaders: each codec's reader on arbitrary bytes, with any
// magic and limit: never more than the limit, what a raw snappy block or
// a checked lz4 frame gives is what the reference readers make of the same
// bytes, and every codec this side writes reads back.
func FuzzCodecReaders(f *testing.F) {
	data := sample(3000)
	for _, c := range allCodecs {
		for magic := int8(0); magic <= 2; magic++ {
			enc, _ := compress(c, magic, data)
			f.Add(c, magic, uint32(len(data)), enc)
		}
	}
	f.Add(byte(codecSnappy), int8(1), uint32(1<<20), snappy.Encode(nil, data))
	enc, _ := zstd.NewWriter(nil)
	f.Add(byte(codecZstd), int8(2), uint32(1<<20), enc.EncodeAll(data, nil))
	var b bytes.Buffer
	w := lz4.NewWriter(&b)
	w.Apply(lz4.BlockSizeOption(lz4.Block256Kb), lz4.ChecksumOption(true), lz4.BlockChecksumOption(true), lz4.SizeOption(uint64(len(data))))
	w.Write(data)
	w.Close()
	f.Add(byte(codecLZ4), int8(1), uint32(1<<20), b.Bytes())
	f.Fuzz(func(t *testing.T, codec byte, magic int8, limit uint32, in []byte) {
		codec = codec%4 + 1
		magic = int8(uint8(magic) % 3)
		lim := int(limit % (4 << 20))
		out, err := decompress(codec, magic, in, lim)
		if err == nil && len(out) > lim {
			t.Fatalf("%d bytes out, limit %d", len(out), lim)
		}
		if err == nil {
			switch {
			case codec == codecSnappy && !bytes.HasPrefix(in, xerialMagic):
				if ref, rerr := snappy.Decode(nil, in); rerr != nil || !bytes.Equal(ref, out) {
					t.Fatalf("raw snappy: %d bytes, the reference %d: %v", len(out), len(ref), rerr)
				}
			case codec == codecLZ4 && magic > 0:
				if ref, rerr := io.ReadAll(lz4.NewReader(bytes.NewReader(in))); rerr != nil || !bytes.Equal(ref, out) {
					t.Fatalf("lz4: %d bytes, pierrec/lz4 %d: %v", len(out), len(ref), rerr)
				}
			}
		}
		if codec == codecZstd {
			return
		}
		packed, err := compress(codec, magic, in)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := decompress(codec, magic, packed, len(in)); err != nil || !bytes.Equal(back, in) {
			t.Fatalf("%s round trip of %d bytes: %d back, %v", codecName(codec), len(in), len(back), err)
		}
	})
}

// TestProduceConversionErrors: a partition whose message set does not
// convert is answered by the gateway, with the code a broker of the
// client's day gives (UNSUPPORTED_COMPRESSION_TYPE for zstd, which a
// broker refuses below Produce v7, CORRUPT_MESSAGE for what does not
// decompress or parse), and is not sent upstream as null records, which
// a Kafka broker does not answer with either code.
func TestProduceConversionErrors(t *testing.T) {
	inner := appendMessage(nil, 0, 1, 1, nil, []byte("v"))
	enc, _ := zstd.NewWriter(nil)
	sets := map[int32][]byte{
		0: appendMessage(nil, 0, 1, 1, nil, []byte("good")),
		1: appendMessageAttrs(nil, 0, 1, codecZstd, 1, nil, enc.EncodeAll(inner, nil)),
		2: appendMessageAttrs(nil, 0, 1, codecSnappy, 1, nil, []byte("not snappy")),
	}
	want := map[int32]int16{0: 0, 1: 76, 2: errCorruptMessage}
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 2, 1, 1000
	topic := kmsg.NewProduceRequestTopic()
	topic.Topic = "t"
	for p := range int32(3) {
		part := kmsg.NewProduceRequestTopicPartition()
		part.Partition, part.Records = p, sets[p]
		topic.Partitions = append(topic.Partitions, part)
	}
	req.Topics = append(req.Topics, topic)
	g := &Gateway{log: slog.New(slog.DiscardHandler),
		upstreamKeys: []kmsg.ApiVersionsResponseApiKey{{ApiKey: KeyProduce, MinVersion: 3, MaxVersion: 11}}}
	h := RequestHeader{Key: KeyProduce, Version: 2, CorrelationID: 9}
	frame, sent, failed, ok, err := g.upconvert(h, req.AppendTo(nil))
	if err != nil || !ok || sent != 3 {
		t.Fatalf("sent v%d, %v %v", sent, ok, err)
	}
	_, body, err := ParseRequestHeader(frame)
	if err != nil {
		t.Fatal(err)
	}
	up := kmsg.NewPtrProduceRequest()
	up.Version = 3
	if err := up.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = 3
	for _, tp := range up.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = tp.Topic
		for _, p := range tp.Partitions {
			if p.Partition != 0 || len(p.Records) < 61 || p.Records[16] != 2 {
				t.Fatalf("partition %d upstream with %d bytes", p.Partition, len(p.Records))
			}
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.BaseOffset = p.Partition, 42
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	out, err := g.downconvert(nil, 9, resp.AppendTo(nil), pending{key: KeyProduce, version: 2, sent: 3, convert: true, failed: &failed})
	if err != nil {
		t.Fatal(err)
	}
	_, body, err = ParseResponse(out[4:], KeyProduce, 2)
	if err != nil {
		t.Fatal(err)
	}
	back := kmsg.NewPtrProduceResponse()
	back.Version = 2
	if err := back.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	got := map[int32]int16{}
	for _, rt := range back.Topics {
		for _, p := range rt.Partitions {
			if rt.Topic != "t" || (p.ErrorCode != 0) != (p.BaseOffset == -1) {
				t.Fatalf("%s %+v", rt.Topic, p)
			}
			got[p.Partition] = p.ErrorCode
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
}
