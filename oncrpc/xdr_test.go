package oncrpc

import (
	"bytes"
	"encoding/hex"
	"math"
	"testing"
)

func TestEncoderVectors(t *testing.T) {
	var e Encoder
	e.Uint32(0x01020304)
	e.Int32(-2)
	e.Uint64(0x0102030405060708)
	e.Int64(-1)
	e.Bool(true)
	e.Bool(false)
	e.FixedOpaque([]byte{0xaa, 0xbb, 0xcc})
	e.Opaque([]byte{0x11, 0x22, 0x33, 0x44, 0x55})
	e.String("sillyprog") // RFC 4506 section 7's example string length
	e.Opaque(nil)
	want := "01020304" + "fffffffe" + "0102030405060708" + "ffffffffffffffff" +
		"00000001" + "00000000" +
		"aabbcc00" +
		"00000005" + "1122334455000000" +
		"00000009" + "73696c6c7970726f67000000" +
		"00000000"
	if got := hex.EncodeToString(e.Bytes()); got != want {
		t.Fatalf("encoding:\n got %s\nwant %s", got, want)
	}
	if e.Len()%4 != 0 {
		t.Fatalf("length %d not a multiple of 4", e.Len())
	}

	d := NewDecoder(e.Bytes())
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	u, err := d.Uint32()
	check(err)
	i, err := d.Int32()
	check(err)
	u64, err := d.Uint64()
	check(err)
	i64, err := d.Int64()
	check(err)
	b1, err := d.Bool()
	check(err)
	b2, err := d.Bool()
	check(err)
	var fixed [3]byte
	check(d.FixedOpaque(fixed[:]))
	op, err := d.Opaque(5)
	check(err)
	s, err := d.String(255)
	check(err)
	empty, err := d.Opaque(0)
	check(err)
	if u != 0x01020304 || i != -2 || u64 != 0x0102030405060708 || i64 != -1 || !b1 || b2 ||
		fixed != [3]byte{0xaa, 0xbb, 0xcc} || !bytes.Equal(op, []byte{0x11, 0x22, 0x33, 0x44, 0x55}) ||
		s != "sillyprog" || empty != nil || d.Len() != 0 {
		t.Fatalf("decoded %x %d %x %d %v %v %x %x %q %v, %d left", u, i, u64, i64, b1, b2, fixed, op, s, empty, d.Len())
	}
}

func TestDecoderErrors(t *testing.T) {
	dec := func(h string) *Decoder {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		return NewDecoder(b)
	}
	if _, err := dec("000000").Uint32(); err != ErrTruncated {
		t.Errorf("short uint32: %v", err)
	}
	if _, err := dec("00000000000000").Uint64(); err != ErrTruncated {
		t.Errorf("short uint64: %v", err)
	}
	if _, err := dec("00000002").Bool(); err != ErrBadBool {
		t.Errorf("bool 2: %v", err)
	}
	if _, err := dec("00000006" + "0102030405").Opaque(0); err != ErrTruncated {
		t.Errorf("opaque shorter than its length: %v", err)
	}
	// The padding must be there...
	if _, err := dec("00000005" + "0102030405").Opaque(0); err != ErrTruncated {
		t.Errorf("opaque without padding: %v", err)
	}
	// ...but its content is not checked (documented choice).
	if v, err := dec("00000005" + "0102030405ffffff").Opaque(0); err != nil || len(v) != 5 {
		t.Errorf("opaque with non-zero padding: %x %v", v, err)
	}
	if _, err := dec("00000006" + "010203040506" + "0000").Opaque(5); err != ErrTooLong {
		t.Errorf("opaque over its bound: %v", err)
	}
	if _, err := dec("ffffffff").Opaque(0); err != ErrTooLong {
		t.Errorf("opaque length 2^32-1: %v", err)
	}
	if _, err := dec("7fffffff").Opaque(0); err != ErrTruncated {
		t.Errorf("opaque length 2^31-1: %v", err)
	}
	if _, err := dec("00000100").String(255); err != ErrTooLong {
		t.Errorf("string<255> of 256: %v", err)
	}
	// A count the remaining bytes cannot hold is refused before anyone
	// allocates for it.
	if _, err := dec("00000003" + "00000001" + "00000002").ArrayLen(16); err != ErrTruncated {
		t.Errorf("array count beyond the data: %v", err)
	}
	if _, err := dec("00000011").ArrayLen(16); err != ErrTooLong {
		t.Errorf("array count over its bound: %v", err)
	}
	if n, err := dec("00000002" + "00000001" + "00000002").ArrayLen(16); err != nil || n != 2 {
		t.Errorf("array count 2: %d %v", n, err)
	}
	if _, err := dec("").FixedOpaqueView(-1); err != ErrTooLong {
		t.Errorf("negative fixed opaque: %v", err)
	}
	if _, err := dec("00").FixedOpaqueView(math.MaxInt); err != ErrTruncated {
		t.Errorf("huge fixed opaque: %v", err)
	}
	if err := Unmarshal([]byte{0, 0, 0, 1, 0}, new(u32)); err != ErrTrailingData {
		t.Errorf("trailing data: %v", err)
	}
}

// OpaqueView aliases its input, capped so that appending to it cannot
// overwrite what follows; Opaque copies.
func TestDecoderAliasing(t *testing.T) {
	b := []byte{0, 0, 0, 2, 'h', 'i', 0, 0, 0, 0, 0, 7}
	v, err := NewDecoder(b).OpaqueView(0)
	if err != nil {
		t.Fatal(err)
	}
	if cap(v) != 2 {
		t.Fatalf("view capacity %d, want 2", cap(v))
	}
	c, _ := NewDecoder(b).Opaque(0)
	b[4] = 'H'
	if v[0] != 'H' || c[0] != 'h' {
		t.Fatalf("view %q copy %q", v, c)
	}
}

type u32 uint32

func (v *u32) UnmarshalXDR(d *Decoder) error {
	x, err := d.Uint32()
	*v = u32(x)
	return err
}

func TestRaw(t *testing.T) {
	in := Raw{1, 2, 3, 4}
	b := Marshal(nil, in)
	out := make(Raw, 0, 16)
	if err := Unmarshal(b, &out); err != nil || !bytes.Equal(out, in) {
		t.Fatalf("%x %v", out, err)
	}
	if cap(out) != 16 {
		t.Fatalf("Raw did not reuse its capacity")
	}
}

func TestXDRZeroAlloc(t *testing.T) {
	buf := make([]byte, 0, 256)
	payload := make([]byte, 37)
	var e Encoder
	var d Decoder
	allocs := testing.AllocsPerRun(100, func() {
		e.Reset(buf)
		e.Uint32(7)
		e.Uint64(9)
		e.Bool(true)
		e.Opaque(payload)
		e.String("machine")
		d.Reset(e.Bytes())
		d.Uint32()
		d.Uint64()
		d.Bool()
		d.OpaqueView(64)
		d.OpaqueView(255)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per encode/decode", allocs)
	}
}

// FuzzDecoder runs a small program of decode operations, chosen by the
// input's first bytes, over the rest: whatever the bytes, the Decoder must
// return values or errors, never panic or read out of bounds, and what it
// decodes must encode back to the bytes it consumed (up to padding).
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5}, []byte("\x00\x00\x00\x05hello\x00\x00\x00\x00\x00\x00\x01"))
	f.Add([]byte{6, 6, 6}, []byte("\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x02"))
	f.Add([]byte{4}, []byte("\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, ops, data []byte) {
		d := NewDecoder(data)
		var e Encoder
		consumed := -1
		for _, op := range ops {
			before := d.Len()
			var err error
			switch op % 8 {
			case 0:
				var v uint32
				v, err = d.Uint32()
				if err == nil {
					e.Uint32(v)
				}
			case 1:
				var v uint64
				v, err = d.Uint64()
				if err == nil {
					e.Uint64(v)
				}
			case 2:
				var v bool
				v, err = d.Bool()
				if err == nil {
					e.Bool(v)
				}
			case 3:
				var v []byte
				v, err = d.Opaque(int(op))
				if err == nil {
					if len(v) > int(op) && op != 0 {
						t.Fatalf("opaque of %d over bound %d", len(v), op)
					}
					e.Opaque(v)
				}
			case 4:
				var v []byte
				v, err = d.OpaqueView(0)
				if err == nil {
					e.Opaque(v)
				}
			case 5:
				var s string
				s, err = d.String(255)
				if err == nil {
					e.String(s)
				}
			case 6:
				var n int
				n, err = d.ArrayLen(16)
				if err == nil {
					if n > 16 || n*4 > d.Len() {
						t.Fatalf("array count %d with %d bytes left", n, d.Len())
					}
					e.Uint32(uint32(n))
				}
			case 7:
				n := int(op) % 9
				var v []byte
				v, err = d.FixedOpaqueView(n)
				if err == nil {
					e.FixedOpaque(v)
				}
			}
			if err != nil {
				// A failed item may have consumed its length word; the
				// items before it are what must round-trip.
				consumed = len(data) - before
				break
			}
			if d.Len() > before || d.Len() < 0 {
				t.Fatalf("remaining %d after %d", d.Len(), before)
			}
		}
		if consumed < 0 {
			consumed = len(data) - d.Len()
		}
		if e.Len() != consumed {
			t.Fatalf("re-encoded %d bytes for %d consumed", e.Len(), consumed)
		}
	})
}
