package kafka

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strconv"
	"sync"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// The codecs of the low three attribute bits, the same numbers in message
// sets (magic 0/1) and record batches (magic 2).
const (
	codecNone   = 0
	codecGzip   = 1
	codecSnappy = 2
	codecLZ4    = 3
	codecZstd   = 4
)

// maxDecompressed bounds what one wrapper message or one record batch may
// inflate to, on the Produce side what one partition's message set may
// inflate to in all, and on the Fetch side what one response's batches may
// inflate to in all: a few bytes of gzip or zstd can claim gigabytes.
const maxDecompressed = 64 << 20

var errZstdMessageSet = errors.New("zstd in a magic 0 or 1 message: zstd needs record batches")

var errTooLarge = errors.New("decompressed data above " + strconv.Itoa(maxDecompressed>>20) + " MiB")

func codecName(c byte) string {
	switch c {
	case codecNone:
		return "none"
	case codecGzip:
		return "gzip"
	case codecSnappy:
		return "snappy"
	case codecLZ4:
		return "lz4"
	case codecZstd:
		return "zstd"
	}
	return "codec " + strconv.Itoa(int(c))
}

// decompress inflates data written with codec inside a message or batch
// of the given magic, into at most limit bytes.
func decompress(codec byte, magic int8, data []byte, limit int) ([]byte, error) {
	var out []byte
	var err error
	switch codec {
	case codecGzip:
		out, err = gunzip(data, limit)
	case codecSnappy:
		out, err = unsnappy(data, limit)
	case codecLZ4:
		out, err = unlz4(data, magic, limit)
	case codecZstd:
		if magic < 2 {
			// KIP-110: brokers refuse it in message sets, and no
			// client writes it there.
			return nil, errZstdMessageSet
		}
		out, err = unzstd(data, limit)
	default:
		return nil, errors.New("unknown compression " + codecName(codec))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", codecName(codec), err)
	}
	return out, nil
}

// compress deflates data for a message or batch of the given magic.
// zstd is not written: the conversion never needs it (see compat.go).
func compress(codec byte, magic int8, data []byte) ([]byte, error) {
	switch codec {
	case codecGzip:
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(data)
		if err := w.Close(); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	case codecSnappy:
		// The snappy-java framing, as Kafka's brokers write it when they
		// down-convert: what an old client got from a broker of its day.
		return xerial.Encode(nil, data), nil
	case codecLZ4:
		return appendLZ4Frame(nil, data, magic == 0), nil
	}
	return nil, errors.New("no compression to " + codecName(codec))
}

func gunzip(data []byte, limit int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return readLimited(zr, limit)
}

// readLimited reads r to its end, growing with what comes rather than
// with what a header claims.
func readLimited(r io.Reader, limit int) ([]byte, error) {
	// One byte past the limit tells a too large stream from one that
	// ends exactly there; a silent cut would lose the last messages.
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, errTooLarge
	}
	return out, nil
}

// The snappy-java (xerial) stream: this magic, a big-endian version and
// minimum compatible version (both 1 as written), then blocks, each a
// big-endian length and a raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderLen = 16

// unsnappy reads the snappy-java stream, or, as snappy-java's reader and
// librdkafka do when the magic is absent, one raw snappy block: that is
// what librdkafka writes.
func unsnappy(data []byte, limit int) ([]byte, error) {
	if !bytes.HasPrefix(data, xerialMagic) {
		return snappyBlock(nil, data, limit)
	}
	if len(data) < xerialHeaderLen {
		return nil, errors.New("truncated snappy-java header")
	}
	// snappy-java refuses a stream older than its format 1.
	if v := int32(binary.BigEndian.Uint32(data[8:])); v < 1 {
		return nil, errors.New("snappy-java version " + strconv.Itoa(int(v)))
	}
	data = data[xerialHeaderLen:]
	var out []byte
	for len(data) > 0 {
		if len(data) < 4 {
			return nil, errors.New("truncated snappy-java block length")
		}
		// snappy-java 1.1 reads a second stream's header where a block
		// length would be: streams written one after the other.
		if len(data) >= xerialHeaderLen && bytes.HasPrefix(data, xerialMagic) {
			data = data[xerialHeaderLen:]
			continue
		}
		n := binary.BigEndian.Uint32(data)
		data = data[4:]
		if uint64(n) > uint64(len(data)) {
			return nil, errors.New("snappy-java block longer than the data")
		}
		var err error
		if out, err = snappyBlock(out, data[:n], limit); err != nil {
			return nil, err
		}
		data = data[n:]
	}
	return out, nil
}

// snappyBlock appends the raw snappy block's content to dst, checking the
// length the block claims before allocating for it.
func snappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > limit-len(dst) {
		return nil, errTooLarge
	}
	// Each input byte gives at most 32 (a 2-byte copy of 64), so a
	// larger claim is corrupt whatever the limit.
	if n > 32*len(block) {
		return nil, snappy.ErrCorrupt
	}
	// The standard decoder, not s2's superset: Kafka's snappy-java and
	// librdkafka refuse what it refuses.
	dst = slices.Grow(dst, n)
	if _, err := snappy.DecodeStrict(dst[len(dst):], block); err != nil {
		return nil, err
	}
	return dst[:len(dst)+n], nil
}

// Streaming decoders, one goroutine-free decoder per call: unlike
// DecodeAll, a stream grows its output as it decodes, and
// WithDecoderMaxMemory then bounds the window a frame may ask for.
var zstdDecoders sync.Pool

func unzstd(data []byte, limit int) ([]byte, error) {
	d, _ := zstdDecoders.Get().(*zstd.Decoder)
	if d == nil {
		var err error
		d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecompressed))
		if err != nil {
			return nil, err
		}
	}
	defer func() {
		d.Reset(nil) // drop data's reference
		zstdDecoders.Put(d)
	}()
	if err := d.Reset(bytes.NewReader(data)); err != nil {
		return nil, err
	}
	return readLimited(d, limit)
}

// LZ4 frames as Kafka writes them (Lz4BlockOutputStream): version 1,
// independent blocks, no block or content checksum, 64 KiB blocks, the
// frame descriptor's checksum byte HC, an end mark.
//
// KAFKA-3160: Kafka before 0.10 computed HC over the magic number too.
// For magic 0 Kafka keeps writing that broken HC and its reader skips the
// check; librdkafka likewise writes it for magic 0 and overwrites it
// before reading. Magic 1 and record batches carry the correct HC and
// both check it.
const (
	lz4Magic     = 0x184D2204
	lz4FLG       = 0x60 // version 01, independent blocks
	lz4BD64K     = 0x40
	lz4Block64K  = 64 << 10
	lz4Uncomp    = 0x80000000 // block length bit: stored as is
	lz4FLGCSum   = 0x04       // content checksum
	lz4FLGSize   = 0x08       // content size
	lz4FLGBCSum  = 0x10       // block checksums
	lz4FLGIndep  = 0x20
	lz4FLGDictID = 0x01
)

var lz4Compressors = sync.Pool{New: func() any { return new(lz4.Compressor) }}

// appendLZ4Frame appends data as one LZ4 frame, with the broken HC when
// broken is set (magic 0).
func appendLZ4Frame(dst, data []byte, broken bool) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, lz4Magic)
	dst = append(dst, lz4FLG, lz4BD64K)
	dst = append(dst, lz4HC(dst[start:], broken))
	c := lz4Compressors.Get().(*lz4.Compressor)
	defer lz4Compressors.Put(c)
	buf := make([]byte, lz4.CompressBlockBound(lz4Block64K))
	for len(data) > 0 {
		blk := data[:min(len(data), lz4Block64K)]
		data = data[len(blk):]
		n, err := c.CompressBlock(blk, buf)
		// As Kafka: a block that does not shrink goes as it is.
		if err != nil || n == 0 || n >= len(blk) {
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(blk))|lz4Uncomp)
			dst = append(dst, blk...)
			continue
		}
		dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
		dst = append(dst, buf[:n]...)
	}
	return binary.LittleEndian.AppendUint32(dst, 0) // end mark
}

// lz4HC is the checksum byte of a frame header (magic number through the
// last descriptor byte, without HC).
func lz4HC(header []byte, broken bool) byte {
	if !broken {
		header = header[4:]
	}
	return byte(xxh32(header) >> 8)
}

// unlz4 reads one LZ4 frame with what Kafka's reader takes: no dictionary,
// independent blocks only (Kafka refuses dependent ones), optional content
// size and block and content checksums.
func unlz4(data []byte, magic int8, limit int) ([]byte, error) {
	if len(data) < 7 || binary.LittleEndian.Uint32(data) != lz4Magic {
		return nil, errors.New("not an LZ4 frame")
	}
	flg, bd := data[4], data[5]
	if flg>>6 != 1 || flg&0x02 != 0 || bd&0x8f != 0 {
		return nil, errors.New("unsupported LZ4 frame descriptor")
	}
	if flg&lz4FLGDictID != 0 {
		return nil, errors.New("LZ4 dictionary frames are not supported")
	}
	if flg&lz4FLGIndep == 0 {
		return nil, errors.New("LZ4 dependent blocks are not supported")
	}
	blockMax := 1 << (2*int(bd>>4) + 8)
	if blockMax < lz4Block64K {
		return nil, errors.New("LZ4 block size code " + strconv.Itoa(int(bd>>4)))
	}
	hdr := 6
	size := int64(-1)
	if flg&lz4FLGSize != 0 {
		if len(data) < hdr+9 {
			return nil, errors.New("truncated LZ4 frame header")
		}
		u := binary.LittleEndian.Uint64(data[hdr:])
		if u > uint64(limit) {
			return nil, errTooLarge
		}
		size = int64(u)
		hdr += 8
	}
	if magic > 0 && data[hdr] != lz4HC(data[:hdr], false) {
		return nil, errors.New("LZ4 frame descriptor checksum mismatch")
	}
	data = data[hdr+1:]
	var out []byte
	var buf []byte
	for {
		if len(data) < 4 {
			return nil, errors.New("truncated LZ4 frame")
		}
		n := binary.LittleEndian.Uint32(data)
		data = data[4:]
		if n == 0 {
			break
		}
		stored := n&lz4Uncomp != 0
		n &^= lz4Uncomp
		if int64(n) > int64(blockMax) || int64(n) > int64(len(data)) {
			return nil, errors.New("LZ4 block length " + strconv.FormatUint(uint64(n), 10))
		}
		blk := data[:n]
		data = data[n:]
		if flg&lz4FLGBCSum != 0 {
			if len(data) < 4 {
				return nil, errors.New("truncated LZ4 frame")
			}
			if binary.LittleEndian.Uint32(data) != xxh32(blk) {
				return nil, errors.New("LZ4 block checksum mismatch")
			}
			data = data[4:]
		}
		if stored {
			if len(blk) > limit-len(out) {
				return nil, errTooLarge
			}
			out = append(out, blk...)
			continue
		}
		// A block byte gives at most 255 (a match length byte), so the
		// buffer follows the data that came, not the block size the
		// descriptor claims: a few bytes claiming 4 MiB blocks get no
		// 4 MiB.
		need := min(blockMax, 256*len(blk))
		if cap(buf) < need {
			buf = make([]byte, need)
		}
		m, err := lz4.UncompressBlock(blk, buf[:need])
		if err != nil {
			return nil, err
		}
		if m > limit-len(out) {
			return nil, errTooLarge
		}
		out = append(out, buf[:m]...)
	}
	if flg&lz4FLGCSum != 0 {
		if len(data) < 4 {
			return nil, errors.New("truncated LZ4 frame")
		}
		if binary.LittleEndian.Uint32(data) != xxh32(out) {
			return nil, errors.New("LZ4 content checksum mismatch")
		}
		data = data[4:]
	}
	if len(data) != 0 {
		return nil, errors.New("data after the LZ4 frame")
	}
	if size >= 0 && size != int64(len(out)) {
		return nil, errors.New("LZ4 content size mismatch")
	}
	return out, nil
}

// xxh32 is XXH32 with seed 0, the hash of the LZ4 frame format. The lz4
// module keeps its own internal.
func xxh32(b []byte) uint32 {
	const (
		p1 uint32 = 2654435761
		p2 uint32 = 2246822519
		p3 uint32 = 3266489917
		p4 uint32 = 668265263
		p5 uint32 = 374761393
	)
	round := func(acc, in uint32) uint32 { return bits.RotateLeft32(acc+in*p2, 13) * p1 }
	n := len(b)
	var seed, h uint32
	if n >= 16 {
		v1, v2, v3, v4 := seed+p1+p2, seed+p2, seed, seed-p1
		for ; len(b) >= 16; b = b[16:] {
			v1 = round(v1, binary.LittleEndian.Uint32(b))
			v2 = round(v2, binary.LittleEndian.Uint32(b[4:]))
			v3 = round(v3, binary.LittleEndian.Uint32(b[8:]))
			v4 = round(v4, binary.LittleEndian.Uint32(b[12:]))
		}
		h = bits.RotateLeft32(v1, 1) + bits.RotateLeft32(v2, 7) + bits.RotateLeft32(v3, 12) + bits.RotateLeft32(v4, 18)
	} else {
		h = seed + p5
	}
	h += uint32(n)
	for ; len(b) >= 4; b = b[4:] {
		h = bits.RotateLeft32(h+binary.LittleEndian.Uint32(b)*p3, 17) * p4
	}
	for _, c := range b {
		h = bits.RotateLeft32(h+uint32(c)*p5, 11) * p1
	}
	h ^= h >> 15
	h *= p2
	h ^= h >> 13
	h *= p3
	h ^= h >> 16
	return h
}
