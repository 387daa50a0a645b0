package kafka

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Old clients behind a new broker. A 0.9/0.10 client (librdkafka with
// api.version.request=false and broker.version.fallback=0.9.0, the clients
// of KIP-43's legacy GSSAPI flow) produces with Produce v0-v2 and fetches
// with Fetch v0-v3, whose records are message sets (magic 0 and 1). Kafka
// 4.0 dropped those versions (KIP-896) and kfake never had them. When the
// upstream's lowest version is above the client's, the gateway converts:
// the request to the upstream's lowest version with the message set turned
// into a record batch, the response back to the client's version with the
// record batches turned into the message format that version reads, as a
// Kafka 3.x broker down-converts.
//
// Every codec converts, both ways, in the byte forms real clients write
// and read (compat_codec.go): gzip; snappy in snappy-java's framing, raw
// snappy (librdkafka's) read too; lz4 frames with the header checksum
// Kafka uses for the magic at hand (KAFKA-3160). A compressed batch goes
// to the old client as one wrapper message of the same codec, except zstd,
// which no message set may carry (KIP-110): there a broker answers
// UNSUPPORTED_COMPRESSION_TYPE, and the old client never gets past those
// records (a 0.9/0.10 one does not even know the code), so the gateway
// sends them uncompressed instead. On Produce, a partition whose data does
// not decompress or parse, or inflates past maxDecompressed, stays out of
// the upstream request and the gateway answers it with CORRUPT_MESSAGE
// (UNSUPPORTED_COMPRESSION_TYPE for zstd in a message set, as a broker
// does below Produce v7). On Fetch such data ends the partition's data
// before it, and the batches past what one response may inflate to in all
// are left for the next fetch. The gateway logs each failure.

const (
	errCorruptMessage             int16 = 2
	errUnsupportedCompressionType int16 = 76
)

// failedPartition is a produced partition whose message set does not
// convert: it does not go upstream, and the gateway answers it with code,
// as a broker of the client's day would have.
type failedPartition struct {
	topic     string
	partition int32
	code      int16
}

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// upconvert returns frame rewritten for the upstream, or ok=false when the
// request goes as it is, and the produced partitions the gateway answers.
func (g *Gateway) upconvert(h RequestHeader, body []byte) (out []byte, sent int16, failed []failedPartition, ok bool, err error) {
	if h.Key != KeyProduce && h.Key != KeyFetch {
		return nil, 0, nil, false, nil
	}
	upMin, known := g.upstreamMin(h.Key)
	if !known || h.Version >= upMin {
		return nil, 0, nil, false, nil
	}
	clientID := ""
	if h.ClientID != nil {
		clientID = *h.ClientID
	}
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))
	switch h.Key {
	case KeyProduce:
		req := kmsg.NewPtrProduceRequest()
		req.Version = h.Version
		if err := req.ReadFrom(body); err != nil {
			return nil, 0, nil, false, err
		}
		for i := range req.Topics {
			t := &req.Topics[i]
			kept := t.Partitions[:0]
			for _, p := range t.Partitions {
				batch, cerr := messageSetToBatch(p.Records)
				if cerr == nil {
					p.Records = batch
					kept = append(kept, p)
					continue
				}
				g.log.Warn("kafka gateway: cannot convert a produced message set", "topic", t.Topic, "error", cerr)
				code := errCorruptMessage
				if errors.Is(cerr, errZstdMessageSet) {
					code = errUnsupportedCompressionType
				}
				failed = append(failed, failedPartition{t.Topic, p.Partition, code})
			}
			t.Partitions = kept
		}
		req.Topics = slices.DeleteFunc(req.Topics, func(t kmsg.ProduceRequestTopic) bool { return len(t.Partitions) == 0 })
		req.Version = upMin
		return f.AppendRequest(nil, req, h.CorrelationID)[4:], upMin, failed, true, nil
	default:
		req := kmsg.NewPtrFetchRequest()
		req.Version = h.Version
		if err := req.ReadFrom(body); err != nil {
			return nil, 0, nil, false, err
		}
		if h.Version < 3 {
			req.MaxBytes = 1<<31 - 1 // v0-v2 have no response limit
		}
		req.IsolationLevel = 0
		req.Version = upMin
		return f.AppendRequest(nil, req, h.CorrelationID)[4:], upMin, nil, true, nil
	}
}

// KeyFetch is the Fetch API.
const KeyFetch int16 = 1

func (g *Gateway) upstreamMin(key int16) (int16, bool) {
	g.keysMu.Lock()
	defer g.keysMu.Unlock()
	for _, k := range g.upstreamKeys {
		if k.ApiKey == key {
			return k.MinVersion, true
		}
	}
	return 0, false
}

// downconvert re-encodes a converted request's response at the client's
// version.
func (g *Gateway) downconvert(dst []byte, corr int32, body []byte, p pending) ([]byte, error) {
	switch p.key {
	case KeyProduce:
		r := kmsg.NewPtrProduceResponse()
		r.Version = p.sent
		if err := r.ReadFrom(body); err != nil {
			return nil, err
		}
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if r.Topics[i].Partitions[j].ErrorCode != 0 && r.Topics[i].Partitions[j].ErrorMessage != nil {
					g.log.Debug("kafka gateway: produce error", "topic", r.Topics[i].Topic, "message", *r.Topics[i].Partitions[j].ErrorMessage)
				}
			}
		}
		var failed []failedPartition
		if p.failed != nil {
			failed = *p.failed
		}
		for _, f := range failed {
			i := slices.IndexFunc(r.Topics, func(t kmsg.ProduceResponseTopic) bool { return t.Topic == f.topic })
			if i < 0 {
				t := kmsg.NewProduceResponseTopic()
				t.Topic = f.topic
				r.Topics = append(r.Topics, t)
				i = len(r.Topics) - 1
			}
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.BaseOffset = f.partition, f.code, -1
			r.Topics[i].Partitions = append(r.Topics[i].Partitions, rp)
		}
		r.Version = p.version
		return AppendResponse(dst, corr, r), nil
	case KeyFetch:
		r := kmsg.NewPtrFetchResponse()
		r.Version = p.sent
		if err := r.ReadFrom(body); err != nil {
			return nil, err
		}
		magic := int8(1)
		if p.version < 2 {
			magic = 0
		}
		budget := maxDecompressed // for the whole response
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				part := &r.Topics[i].Partitions[j]
				set, err := convertBatches(part.RecordBatches, magic, &budget)
				if err != nil {
					g.log.Warn("kafka gateway: cannot convert fetched batches", "topic", r.Topics[i].Topic, "error", err)
				}
				if set == nil {
					set = []byte{} // v0-v3 have no null record set
				}
				part.RecordBatches = set
			}
		}
		r.Version = p.version
		return AppendResponse(dst, corr, r), nil
	}
	return nil, errors.New("kafka gateway: no conversion for API key " + strconv.Itoa(int(p.key)))
}

type plainRecord struct {
	ts         int64
	key, value []byte
}

// messageSetToBatch turns a magic 0/1 message set into one record batch
// (magic 2), compressed with the codec of the set's first compressed
// wrapper, as a broker with compression.type=producer keeps the producer's
// codec. Produce v3 and later take exactly one batch per partition.
func messageSetToBatch(set []byte) ([]byte, error) {
	recs, codec, err := readMessageSet(set)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, errors.New("an empty message set")
	}
	first := recs[0].ts
	maxTS := first
	var records []byte
	for i, r := range recs {
		var body []byte
		body = append(body, 0) // attributes
		delta := int64(0)
		if first >= 0 && r.ts >= 0 {
			delta = r.ts - first
		}
		if r.ts > maxTS {
			maxTS = r.ts
		}
		body = binary.AppendVarint(body, delta)
		body = binary.AppendVarint(body, int64(i))
		body = appendVarBytes(body, r.key)
		body = appendVarBytes(body, r.value)
		body = binary.AppendVarint(body, 0) // headers
		records = binary.AppendVarint(records, int64(len(body)))
		records = append(records, body...)
	}
	if codec != codecNone {
		if records, err = compress(codec, 2, records); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, 61+len(records))
	b = binary.BigEndian.AppendUint64(b, 0)          // base offset
	b = binary.BigEndian.AppendUint32(b, 0)          // length, below
	b = binary.BigEndian.AppendUint32(b, 0xffffffff) // partition leader epoch
	b = append(b, 2)                                 // magic
	b = binary.BigEndian.AppendUint32(b, 0)          // crc, below
	b = binary.BigEndian.AppendUint16(b, uint16(codec))
	b = binary.BigEndian.AppendUint32(b, uint32(len(recs)-1))
	b = binary.BigEndian.AppendUint64(b, uint64(first))
	b = binary.BigEndian.AppendUint64(b, uint64(maxTS))
	b = binary.BigEndian.AppendUint64(b, 0xffffffffffffffff) // producer ID
	b = binary.BigEndian.AppendUint16(b, 0xffff)             // producer epoch
	b = binary.BigEndian.AppendUint32(b, 0xffffffff)         // base sequence
	b = binary.BigEndian.AppendUint32(b, uint32(len(recs)))
	b = append(b, records...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32c))
	return b, nil
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// readMessageSet reads magic 0/1 messages, unpacking compressed wrappers,
// and returns the codec of the first wrapper (codecNone if none is).
func readMessageSet(set []byte) ([]plainRecord, byte, error) {
	r := setReader{budget: maxDecompressed}
	recs, err := r.read(set, 0)
	return recs, r.codec, err
}

type setReader struct {
	budget int  // what the wrappers may still inflate to, all together
	codec  byte // the first wrapper's
}

func (sr *setReader) read(set []byte, depth int) ([]plainRecord, error) {
	if depth > 1 {
		return nil, errors.New("nested compressed message sets")
	}
	var out []plainRecord
	for len(set) >= 12 {
		size := int(int32(binary.BigEndian.Uint32(set[8:])))
		if size < 14 || len(set) < 12+size {
			break // a partial trailing message, as brokers allow
		}
		m := set[12 : 12+size]
		set = set[12+size:]
		if crc32.ChecksumIEEE(m[4:]) != binary.BigEndian.Uint32(m) {
			return nil, errors.New("message CRC mismatch")
		}
		magic, attrs := int8(m[4]), m[5]
		rest := m[6:]
		ts := int64(-1)
		if magic == 1 {
			if len(rest) < 8 {
				return nil, errors.New("truncated message")
			}
			ts = int64(binary.BigEndian.Uint64(rest))
			rest = rest[8:]
		} else if magic != 0 {
			return nil, errors.New("message magic " + strconv.Itoa(int(magic)) + " in a message set")
		}
		key, rest, err := readBytes32(rest)
		if err != nil {
			return nil, err
		}
		value, _, err := readBytes32(rest)
		if err != nil {
			return nil, err
		}
		codec := attrs & 7
		if codec == codecNone {
			out = append(out, plainRecord{ts: ts, key: key, value: value})
			continue
		}
		inner, err := decompress(codec, magic, value, sr.budget)
		if err != nil {
			return nil, err
		}
		sr.budget -= len(inner)
		if sr.codec == codecNone {
			sr.codec = codec
		}
		recs, err := sr.read(inner, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

func readBytes32(b []byte) ([]byte, []byte, error) {
	if len(b) < 4 {
		return nil, nil, errors.New("truncated message")
	}
	n := int32(binary.BigEndian.Uint32(b))
	b = b[4:]
	if n < 0 {
		return nil, b, nil
	}
	if int(n) > len(b) {
		return nil, nil, errors.New("truncated message")
	}
	return b[:n], b[n:], nil
}

// batchesToMessageSet turns record batches into a message set of the given
// magic, with absolute offsets; control batches are left out. A compressed
// batch becomes one wrapper message of its codec, as a broker
// down-converts, but zstd batches become plain messages (see the top of
// this file).
func batchesToMessageSet(batches []byte, magic int8) ([]byte, error) {
	budget := maxDecompressed
	return convertBatches(batches, magic, &budget)
}

// convertBatches is batchesToMessageSet with what compressed batches may
// still inflate to, shared by the partitions of one Fetch response: a zstd
// batch goes out at its inflated size, and a few KiB of them can inflate
// to gigabytes. The batches past the budget are left out, as a broker
// leaves out what is past a fetch's size, for the client's next fetch;
// only a batch that alone inflates past maxDecompressed is an error.
func convertBatches(batches []byte, magic int8, budget *int) ([]byte, error) {
	var out []byte
	for len(batches) >= 61 {
		base := int64(binary.BigEndian.Uint64(batches))
		length := int(int32(binary.BigEndian.Uint32(batches[8:])))
		if length < 49 || len(batches) < 12+length {
			break // a partial trailing batch
		}
		b := batches[:12+length]
		batches = batches[12+length:]
		if b[16] != 2 {
			return out, errors.New("record batch magic " + strconv.Itoa(int(b[16])))
		}
		attrs := binary.BigEndian.Uint16(b[21:])
		if attrs&0x20 != 0 {
			continue // transaction markers are not messages
		}
		firstTS := int64(binary.BigEndian.Uint64(b[27:]))
		maxTS := int64(binary.BigEndian.Uint64(b[35:]))
		n := int(int32(binary.BigEndian.Uint32(b[57:])))
		recs := b[61:]
		codec := byte(attrs & 7)
		if codec != codecNone {
			if *budget <= 0 {
				return out, nil
			}
			raw, err := decompress(codec, 2, recs, *budget)
			if errors.Is(err, errTooLarge) && *budget < maxDecompressed {
				*budget = 0 // the rest of the response too
				return out, nil
			}
			if err != nil {
				return out, err
			}
			*budget -= len(raw)
			recs = raw
		}
		// Magic 1 carries the batch's timestamp type: with log append
		// time every message has the batch's maximum timestamp.
		var msgAttrs byte
		logAppend := attrs&0x08 != 0
		if logAppend && magic > 0 {
			msgAttrs = 0x08
		}
		wrap := codec
		if codec == codecZstd {
			wrap = codecNone
		}
		var inner []byte
		last := int64(-1)
		for i := 0; i < n; i++ {
			r, rest, err := readRecord(recs)
			if err != nil {
				return out, err
			}
			recs = rest
			off, ts := base+r.offsetDelta, firstTS+r.tsDelta
			if logAppend {
				ts = maxTS
			}
			if wrap == codecNone {
				out = appendMessageAttrs(out, off, magic, msgAttrs, ts, r.key, r.value)
				continue
			}
			// Inside a magic 1 wrapper offsets are relative to the
			// batch's base (KIP-31); magic 0 keeps absolute ones.
			inOff := off
			if magic > 0 {
				inOff = off - base
			}
			inner = appendMessageAttrs(inner, inOff, magic, msgAttrs, ts, r.key, r.value)
			last = off
		}
		if wrap == codecNone || last < 0 {
			continue
		}
		value, err := compress(wrap, magic, inner)
		if err != nil {
			return out, err
		}
		// The wrapper has the last inner offset, from which readers
		// count the relative ones back, and the batch's maximum
		// timestamp.
		out = appendMessageAttrs(out, last, magic, wrap|msgAttrs, maxTS, nil, value)
	}
	return out, nil
}

type batchRecord struct {
	tsDelta, offsetDelta int64
	key, value           []byte
}

func readRecord(b []byte) (batchRecord, []byte, error) {
	var r batchRecord
	bad := errors.New("malformed record")
	length, n := binary.Varint(b)
	if n <= 0 || length < 0 || int64(len(b)-n) < length {
		return r, nil, bad
	}
	rec, rest := b[n:n+int(length)], b[n+int(length):]
	if len(rec) < 1 {
		return r, nil, bad
	}
	rec = rec[1:] // attributes
	var ok bool
	if r.tsDelta, rec, ok = varint(rec); !ok {
		return r, nil, bad
	}
	if r.offsetDelta, rec, ok = varint(rec); !ok {
		return r, nil, bad
	}
	if r.key, rec, ok = varBytes(rec); !ok {
		return r, nil, bad
	}
	if r.value, _, ok = varBytes(rec); !ok {
		return r, nil, bad
	}
	return r, rest, nil
}

func varint(b []byte) (int64, []byte, bool) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, nil, false
	}
	return v, b[n:], true
}

func varBytes(b []byte) ([]byte, []byte, bool) {
	n, b, ok := varint(b)
	if !ok {
		return nil, nil, false
	}
	if n < 0 {
		return nil, b, true
	}
	if n > int64(len(b)) {
		return nil, nil, false
	}
	return b[:n], b[n:], true
}

// appendMessage appends one magic 0/1 message with its offset and size.
func appendMessage(dst []byte, offset int64, magic int8, ts int64, key, value []byte) []byte {
	return appendMessageAttrs(dst, offset, magic, 0, ts, key, value)
}

func appendMessageAttrs(dst []byte, offset int64, magic int8, attrs byte, ts int64, key, value []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(offset))
	sizeAt := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, 0)
	crcAt := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, 0)
	dst = append(dst, byte(magic), attrs)
	if magic == 1 {
		dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	}
	dst = appendBytes32(dst, key)
	dst = appendBytes32(dst, value)
	binary.BigEndian.PutUint32(dst[sizeAt:], uint32(len(dst)-crcAt))
	binary.BigEndian.PutUint32(dst[crcAt:], crc32.ChecksumIEEE(dst[crcAt+4:]))
	return dst
}

func appendBytes32(dst, b []byte) []byte {
	if b == nil {
		return binary.BigEndian.AppendUint32(dst, 0xffffffff)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}
