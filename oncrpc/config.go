package oncrpc

import (
	"log/slog"
	"sync"
)

// DefaultMaxInFlight is the per-connection limit on calls a Server runs at
// once when Config.MaxInFlight is zero.
const DefaultMaxInFlight = 128

// Config configures a Client or a Server; each reads the fields that apply
// to it. A Config may be shared, and must not be modified once passed to
// NewClient, Dial or NewServer. The zero value is usable.
type Config struct {
	// MaxRecordSize bounds a received record (a call on a server, a
	// reply on a client); DefaultMaxRecordSize if zero. A peer that
	// exceeds it loses its connection: the limit is known from the
	// fragment marks, so nothing oversized is read into memory.
	MaxRecordSize int

	// MaxFragmentSize splits each sent record into fragments of at most
	// this many bytes. Zero sends every record as a single fragment.
	MaxFragmentSize int

	// Auth is the client's default authentication; AuthNone if nil.
	Auth Auth

	// Authenticators are the flavors a server accepts, by credential
	// flavor; DefaultAuthenticators() (AUTH_NONE and AUTH_SYS) if nil. A
	// call in any other flavor is rejected with AUTH_REJECTEDCRED.
	Authenticators map[Flavor]Authenticator

	// MaxInFlight bounds, per connection, the calls a server runs at
	// once; DefaultMaxInFlight if zero. When it is reached the server
	// stops reading from that connection until a call completes, which
	// pushes back on the client through TCP flow control.
	MaxInFlight int

	// Logger receives a server's diagnostics (dropped connections and
	// calls at Debug, handler panics at Error); slog.Default() if nil.
	Logger *slog.Logger
}

func (c *Config) maxRecordSize() int {
	if c == nil || c.MaxRecordSize <= 0 {
		return DefaultMaxRecordSize
	}
	return c.MaxRecordSize
}

func (c *Config) maxFragmentSize() int {
	if c == nil {
		return 0
	}
	return c.MaxFragmentSize
}

func (c *Config) auth() Auth {
	if c == nil || c.Auth == nil {
		return AuthNone{}
	}
	return c.Auth
}

func (c *Config) authenticators() map[Flavor]Authenticator {
	if c == nil || c.Authenticators == nil {
		return DefaultAuthenticators()
	}
	return c.Authenticators
}

func (c *Config) maxInFlight() int {
	if c == nil || c.MaxInFlight <= 0 {
		return DefaultMaxInFlight
	}
	return c.MaxInFlight
}

func (c *Config) logger() *slog.Logger {
	if c == nil || c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// Buffers are recycled across calls. Ones that grew past poolMax (a large
// call or reply) are left to the garbage collector rather than pinning that
// much memory in the pool.
const poolMax = 256 << 10

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > poolMax {
		*b = nil
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
