package oncrpc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
)

// Record marking (RFC 5531 section 11): on a stream every message is a
// record of one or more fragments, each preceded by a 4-byte mark whose top
// bit says "last fragment" and whose low 31 bits give the fragment length.

const (
	lastFragment = 1 << 31
	// maxFragment is the largest length a fragment mark can carry.
	maxFragment = lastFragment - 1

	// DefaultMaxRecordSize bounds a received record when Config leaves it
	// zero. It is the reference gss-proxy's limit (MAX_RPC_SIZE).
	DefaultMaxRecordSize = 1 << 20

	// readChunk bounds how far the record buffer grows ahead of the bytes
	// actually received, so a mark claiming a large fragment costs memory
	// only as its bytes arrive.
	readChunk = 64 << 10
)

// ErrRecordTooLarge is returned when an incoming record would exceed the
// maximum record size. It is detected from the fragment marks, before the
// oversized fragment is read; the stream is then positioned mid-record and
// cannot be used further.
var ErrRecordTooLarge = errors.New("oncrpc: record exceeds the maximum record size")

// A RecordReader reads records from a stream.
type RecordReader struct {
	r    *bufio.Reader
	max  int
	mark [4]byte // here rather than on the stack, where io.ReadFull would make it escape
}

// NewRecordReader returns a RecordReader that rejects records larger than
// maxSize bytes (DefaultMaxRecordSize if maxSize <= 0).
func NewRecordReader(r io.Reader, maxSize int) *RecordReader {
	if maxSize <= 0 {
		maxSize = DefaultMaxRecordSize
	}
	return &RecordReader{r: bufio.NewReaderSize(r, 16<<10), max: maxSize}
}

// ReadRecord reads the next record and appends its bytes (without the marks)
// to dst[:0]. A stream that ends cleanly between records gives io.EOF; one
// that ends inside a record gives io.ErrUnexpectedEOF.
func (rr *RecordReader) ReadRecord(dst []byte) ([]byte, error) {
	rec := dst[:0]
	mark := rr.mark[:]
	first := true
	for {
		if _, err := io.ReadFull(rr.r, mark); err != nil {
			if err == io.EOF && !first {
				err = io.ErrUnexpectedEOF
			}
			return rec, err
		}
		first = false
		m := binary.BigEndian.Uint32(mark)
		n := int(m &^ lastFragment)
		if n > rr.max-len(rec) {
			return rec, ErrRecordTooLarge
		}
		for n > 0 {
			chunk := min(n, max(readChunk, len(rec)))
			rec = grow(rec, chunk)
			k, err := io.ReadFull(rr.r, rec[len(rec):len(rec)+chunk])
			rec = rec[:len(rec)+k]
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return rec, err
			}
			n -= chunk
		}
		if m&lastFragment != 0 {
			return rec, nil
		}
	}
}

// buffered is how many bytes were received and not yet returned.
func (rr *RecordReader) buffered() int { return rr.r.Buffered() }

// grow makes room for n more bytes after len(b).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(len(b)+n, 2*cap(b)))
	copy(nb, b)
	return nb
}

// A recordWriter writes whole records, each as few fragments as the
// fragment size allows, with one writev per record when the connection
// supports it. It is not safe for concurrent use; callers serialize.
type recordWriter struct {
	w       recordSink
	maxFrag int
	marks   []byte
	bufs    [][]byte
}

func newRecordWriter(w recordSink, maxFrag int) *recordWriter {
	if maxFrag <= 0 || maxFrag > maxFragment {
		maxFrag = maxFragment
	}
	return &recordWriter{w: w, maxFrag: maxFrag}
}

// write sends the parts, concatenated, as one record.
func (rw *recordWriter) write(parts ...[]byte) error {
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	rw.marks = rw.marks[:0]
	for off := 0; ; off += rw.maxFrag {
		flen := min(total-off, rw.maxFrag)
		m := uint32(flen)
		if off+flen == total {
			m |= lastFragment
		}
		rw.marks = binary.BigEndian.AppendUint32(rw.marks, m)
		if off+flen == total {
			break
		}
	}
	rw.bufs = rw.bufs[:0]
	mi, fragLeft := 0, 0
	for _, p := range parts {
		for len(p) > 0 {
			if fragLeft == 0 {
				rw.bufs = append(rw.bufs, rw.marks[4*mi:4*mi+4])
				mi++
				fragLeft = rw.maxFrag
			}
			k := min(len(p), fragLeft)
			rw.bufs = append(rw.bufs, p[:k])
			p = p[k:]
			fragLeft -= k
		}
	}
	if mi == 0 { // an empty record is one empty last fragment
		rw.bufs = append(rw.bufs, rw.marks[:4])
	}
	return rw.w.writeBuffers(rw.bufs)
}

// A recordSink writes a record's pieces, in order and all of them.
type recordSink interface {
	writeBuffers(bufs [][]byte) error
}

// A blockingSink is a recordSink that tells, by calling the function
// given to onWriteBlocked, when a write finds no room and waits for it.
type blockingSink interface {
	recordSink
	onWriteBlocked(func())
}

// writerSink is the recordSink of an io.Writer: one writev where the
// writer is a connection that has it.
type writerSink struct{ w io.Writer }

func (ws writerSink) writeBuffers(bufs [][]byte) error {
	nb := net.Buffers(bufs)
	_, err := nb.WriteTo(ws.w)
	return err
}

// WriteRecord writes rec to w as one record, split into fragments of at
// most maxFragment bytes (maxFragment <= 0: as a single fragment).
func WriteRecord(w io.Writer, rec []byte, maxFragment int) error {
	return newRecordWriter(writerSink{w}, maxFragment).write(rec)
}
