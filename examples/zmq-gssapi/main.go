// Command zmq-gssapi is a ZeroMQ echo server and client secured with the
// GSSAPI mechanism (Kerberos V5), built on package zmtp. Its options are
// libzmq's socket options, so any ZeroMQ peer can stand on the other side.
//
// Server: bind, authenticate clients, echo every message with all its
// frames:
//
//	zmq-gssapi -role server -type REP -endpoint tcp://*:5555 \
//		-principal zmq@server.example.com -keytab /etc/zmq.keytab
//
// Client: connect, send -count messages of -size bytes and check each
// echo:
//
//	zmq-gssapi -role client -type REQ -endpoint tcp://server.example.com:5555 \
//		-service-principal zmq@server.example.com -count 1000 -size 65536
//
// Name types are libzmq's numbers: 0 host-based (service@host), 1 user
// name, 2 Kerberos principal. -plaintext turns per-message encryption off;
// both sides must agree. Credentials come from the usual places
// (KRB5CCNAME, KRB5_KTNAME, KRB5_CLIENT_KTNAME, KRB5_CONFIG).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	_ "github.com/gsskit/gsskit/krb5"
	"github.com/gsskit/gsskit/zmtp"
)

func main() {
	role := flag.String("role", "", "server or client")
	endpoint := flag.String("endpoint", "", "tcp://host:port to bind (server) or connect (client)")
	typ := flag.String("type", "", "socket type: REP or ROUTER (server), REQ or DEALER (client)")
	principal := flag.String("principal", "", "this side's principal (ZMQ_GSSAPI_PRINCIPAL); empty means the default credential")
	principalNT := flag.Int("principal-nametype", 0, "name type of -principal: 0 host-based, 1 user name, 2 krb5 principal")
	service := flag.String("service-principal", "", "the server's principal (ZMQ_GSSAPI_SERVICE_PRINCIPAL); client only")
	serviceNT := flag.Int("service-principal-nametype", 0, "name type of -service-principal")
	plaintext := flag.Bool("plaintext", false, "do not encrypt messages (ZMQ_GSSAPI_PLAINTEXT); both sides must agree")
	keytab := flag.String("keytab", "", "server keytab; empty means KRB5_KTNAME or the default")
	count := flag.Int("count", 1, "client: messages to send; server: messages to echo before exiting (default and 0: until interrupted)")
	size := flag.Int("size", 64, "client: message size in bytes")
	verbose := flag.Bool("v", false, "log connection details")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := &zmtp.Config{
		GSSAPI: &zmtp.GSSAPIConfig{
			Server:                   *role == "server",
			Principal:                *principal,
			PrincipalNameType:        zmtp.NameType(*principalNT),
			ServicePrincipal:         *service,
			ServicePrincipalNameType: zmtp.NameType(*serviceNT),
			Plaintext:                *plaintext,
			Keytab:                   *keytab,
		},
		Logger: log,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch *role {
	case "server":
		n := 0
		flag.Visit(func(f *flag.Flag) {
			if f.Name == "count" {
				n = *count
			}
		})
		err = serve(ctx, log, cfg, zmtp.SocketType(*typ), *endpoint, n)
	case "client":
		err = client(ctx, log, cfg, zmtp.SocketType(*typ), *endpoint, *count, *size)
	default:
		err = errors.New("-role must be server or client")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "zmq-gssapi:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, log *slog.Logger, cfg *zmtp.Config, typ zmtp.SocketType, endpoint string, count int) error {
	if typ != zmtp.REP && typ != zmtp.ROUTER {
		return fmt.Errorf("a server's -type is REP or ROUTER, not %q", typ)
	}
	s, err := zmtp.NewSocket(typ, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	addr, err := s.Listen(endpoint)
	if err != nil {
		return err
	}
	// Scripts read this line to learn the port of tcp://host:0.
	fmt.Printf("listening tcp://%s\n", addr)
	for n := 0; count == 0 || n < count; n++ {
		m, err := s.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if n == 0 {
			uid, _ := m.Property(zmtp.PropUserID)
			log.Info("first message", "from", m.Peer().Principal, "socket", string(m.Peer().SocketType),
				"encrypted", m.Peer().Encrypted, "user-id", uid)
		}
		if err := s.Send(ctx, m.Frames...); err != nil {
			return err
		}
	}
	return nil
}

func client(ctx context.Context, log *slog.Logger, cfg *zmtp.Config, typ zmtp.SocketType, endpoint string, count, size int) error {
	if typ != zmtp.REQ && typ != zmtp.DEALER {
		return fmt.Errorf("a client's -type is REQ or DEALER, not %q", typ)
	}
	if cfg.GSSAPI.ServicePrincipal == "" {
		return errors.New("a client needs -service-principal")
	}
	s, err := zmtp.NewSocket(typ, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	start := time.Now()
	if err := s.Dial(ctx, endpoint); err != nil {
		return err
	}
	peer := s.Peers()[0]
	log.Debug("connected", "server", peer.Principal, "socket", string(peer.SocketType), "encrypted", peer.Encrypted)
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i*7 + 1)
	}
	began := time.Now()
	for i := 0; i < count; i++ {
		msg[0] = byte(i) // each message differs from the one before
		frames := [][]byte{msg}
		if typ == zmtp.DEALER {
			// The empty delimiter lets a REP answer a DEALER too.
			frames = [][]byte{{}, msg}
		}
		if err := s.Send(ctx, frames...); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		m, err := s.Recv(ctx)
		if err != nil {
			return fmt.Errorf("reply %d: %w", i, err)
		}
		got := m.Frames
		if typ == zmtp.DEALER {
			if len(got) == 0 || len(got[0]) != 0 {
				return fmt.Errorf("reply %d lacks the empty delimiter", i)
			}
			got = got[1:]
		}
		if len(got) != 1 || !bytes.Equal(got[0], msg) {
			return fmt.Errorf("reply %d is not the message sent", i)
		}
	}
	d := time.Since(began)
	fmt.Printf("ok: %d messages of %d bytes echoed in %.3fs (%.0f round trips/s, %.1f MB/s each way); connect+auth %.1fms\n",
		count, size, d.Seconds(), float64(count)/d.Seconds(), float64(count)*float64(size)/d.Seconds()/1e6,
		float64(began.Sub(start).Microseconds())/1000)
	return nil
}
