package oncrpc

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// frag builds one fragment: mark and data.
func frag(last bool, data []byte) []byte {
	m := uint32(len(data))
	if last {
		m |= lastFragment
	}
	return append(binary.BigEndian.AppendUint32(nil, m), data...)
}

func TestReadRecordFragments(t *testing.T) {
	var stream []byte
	stream = append(stream, frag(false, []byte("abc"))...)
	stream = append(stream, frag(false, nil)...) // empty middle fragment
	stream = append(stream, frag(true, []byte("defgh"))...)
	stream = append(stream, frag(true, nil)...) // an empty record
	stream = append(stream, frag(true, []byte("xyz"))...)

	rr := NewRecordReader(bytes.NewReader(stream), 0)
	var got []string
	var buf []byte
	for {
		rec, err := rr.ReadRecord(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(rec))
		buf = rec
	}
	if want := []string{"abcdefgh", "", "xyz"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("records %q, want %q", got, want)
	}
}

func TestReadRecordTruncated(t *testing.T) {
	for name, stream := range map[string][]byte{
		"inside mark":          {0x80, 0},
		"inside fragment":      frag(true, []byte("abcdef"))[:7],
		"after first fragment": frag(false, []byte("abc")),
	} {
		_, err := NewRecordReader(bytes.NewReader(stream), 0).ReadRecord(nil)
		if err != io.ErrUnexpectedEOF {
			t.Errorf("%s: %v, want io.ErrUnexpectedEOF", name, err)
		}
	}
}

// An oversized record is refused from its marks alone: the reader fails
// before the data, which here never comes (the reader would block on a
// real stream, and fail with EOF here, if it tried to read it).
func TestReadRecordTooLarge(t *testing.T) {
	huge := binary.BigEndian.AppendUint32(nil, lastFragment|0x7fffffff)
	if _, err := NewRecordReader(bytes.NewReader(huge), 1<<20).ReadRecord(nil); err != ErrRecordTooLarge {
		t.Fatalf("one huge fragment: %v", err)
	}
	// The limit is on the record, not the fragment: many small fragments
	// adding up to more are refused as soon as the sum crosses it.
	var stream []byte
	for range 5 {
		stream = append(stream, frag(false, make([]byte, 300))...)
	}
	r := &countingReader{r: bytes.NewReader(stream)}
	if _, err := NewRecordReader(r, 1000).ReadRecord(nil); err != ErrRecordTooLarge {
		t.Fatalf("fragments over the limit: %v", err)
	}
	// Exactly the limit is fine.
	ok := frag(true, make([]byte, 1000))
	if rec, err := NewRecordReader(bytes.NewReader(ok), 1000).ReadRecord(nil); err != nil || len(rec) != 1000 {
		t.Fatalf("record at the limit: %d %v", len(rec), err)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// A mark announcing a large fragment does not make the reader allocate
// that much before the bytes arrive.
func TestReadRecordGrowsWithData(t *testing.T) {
	stream := binary.BigEndian.AppendUint32(nil, lastFragment|(900<<10))
	stream = append(stream, make([]byte, 10)...)
	rec, err := NewRecordReader(bytes.NewReader(stream), 1<<20).ReadRecord(nil)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("%v", err)
	}
	if cap(rec) > 2*readChunk {
		t.Fatalf("buffer grew to %d for 10 bytes received", cap(rec))
	}
}

func TestWriteRecordFragments(t *testing.T) {
	data := make([]byte, 10)
	for i := range data {
		data[i] = byte(i)
	}
	for _, tc := range []struct {
		maxFrag int
		want    []byte
	}{
		{0, frag(true, data)},
		{4, append(append(frag(false, data[:4]), frag(false, data[4:8])...), frag(true, data[8:])...)},
		{5, append(frag(false, data[:5]), frag(true, data[5:])...)},
		{10, frag(true, data)},
	} {
		var buf bytes.Buffer
		if err := WriteRecord(&buf, data, tc.maxFrag); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), tc.want) {
			t.Errorf("maxFrag %d: %x, want %x", tc.maxFrag, buf.Bytes(), tc.want)
		}
	}
	var buf bytes.Buffer
	WriteRecord(&buf, nil, 4)
	if !bytes.Equal(buf.Bytes(), frag(true, nil)) {
		t.Errorf("empty record: %x", buf.Bytes())
	}
	// Parts are framed as their concatenation, whatever their boundaries.
	buf.Reset()
	rw := newRecordWriter(writerSink{&buf}, 4)
	rw.write(data[:3], data[3:9], data[9:])
	want := append(append(frag(false, data[:4]), frag(false, data[4:8])...), frag(true, data[8:])...)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("parts: %x, want %x", buf.Bytes(), want)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	var stream bytes.Buffer
	sizes := []int{0, 1, 3, 4, 4095, 4096, 4097, 100000}
	for _, n := range sizes {
		if err := WriteRecord(&stream, bytes.Repeat([]byte{byte(n)}, n), 4096); err != nil {
			t.Fatal(err)
		}
	}
	rr := NewRecordReader(&stream, 0)
	for _, n := range sizes {
		rec, err := rr.ReadRecord(nil)
		if err != nil || !bytes.Equal(rec, bytes.Repeat([]byte{byte(n)}, n)) {
			t.Fatalf("record of %d: got %d bytes, %v", n, len(rec), err)
		}
	}
	if _, err := rr.ReadRecord(nil); err != io.EOF {
		t.Fatalf("after the last record: %v", err)
	}
}

// FuzzRecordReader feeds arbitrary streams to the record reader with a
// small limit: it must return records no larger than the limit or an
// error, and a record it returns must be exactly the concatenation of the
// fragments that framed it.
func FuzzRecordReader(f *testing.F) {
	f.Add(append(frag(false, []byte("ab")), frag(true, []byte("cd"))...))
	f.Add(frag(true, nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0x80})
	f.Fuzz(func(t *testing.T, stream []byte) {
		const limit = 512
		want, wantErr := refRecords(stream, limit)
		rr := NewRecordReader(bytes.NewReader(stream), limit)
		var buf []byte
		for i := 0; ; i++ {
			rec, err := rr.ReadRecord(buf)
			if err != nil {
				if i != len(want) || err != wantErr {
					t.Fatalf("record %d: error %v; reference has %d records then %v", i, err, len(want), wantErr)
				}
				return
			}
			if i >= len(want) || !bytes.Equal(rec, want[i]) {
				t.Fatalf("record %d differs from the reference", i)
			}
			buf = rec
		}
	})
}

// refRecords is a deliberately naive record parser to check the reader by.
func refRecords(s []byte, limit int) ([][]byte, error) {
	var recs [][]byte
	for len(s) > 0 {
		var rec []byte
		for {
			if len(s) < 4 {
				return recs, io.ErrUnexpectedEOF
			}
			m := binary.BigEndian.Uint32(s)
			n := int(m & 0x7fffffff)
			s = s[4:]
			if len(rec)+n > limit {
				return recs, ErrRecordTooLarge
			}
			if len(s) < n {
				return recs, io.ErrUnexpectedEOF
			}
			rec = append(rec, s[:n]...)
			s = s[n:]
			if m&0x80000000 != 0 {
				break
			}
			if len(s) == 0 {
				return recs, io.ErrUnexpectedEOF
			}
		}
		if rec == nil {
			rec = []byte{}
		}
		recs = append(recs, rec)
	}
	return recs, io.EOF
}
