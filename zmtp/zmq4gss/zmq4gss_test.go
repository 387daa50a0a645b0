package zmq4gss_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/gsskit/gsskit/internal/krbtest"
	_ "github.com/gsskit/gsskit/krb5"
	"github.com/gsskit/gsskit/zmtp"
	"github.com/gsskit/gsskit/zmtp/zmq4gss"
)

const python = "/usr/bin/python3"

func realm(t *testing.T) *krbtest.Realm {
	r := krbtest.StartT(t, krbtest.Config{
		Users:    map[string]string{"alice": "alice-zmq4-pw-5"},
		Services: []krbtest.Service{{Principal: "zmq/localhost"}},
	})
	r.Setenv(t)
	r.KinitT(t, "alice", "")
	return r
}

func TestEncryptionRefused(t *testing.T) {
	_, err := zmq4gss.New(&zmtp.GSSAPIConfig{ServicePrincipal: "zmq@localhost"}, nil)
	if !errors.Is(err, zmq4gss.ErrEncryption) {
		t.Fatalf("New without Plaintext = %v", err)
	}
}

// A zmq4 REQ authenticates to a zmtp REP, and a zmtp REQ to a zmq4 REP.
func TestZmq4WithZmtp(t *testing.T) {
	r := realm(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	server := &zmtp.GSSAPIConfig{Server: true, Principal: "zmq@localhost", Keytab: r.Keytab("zmq/localhost"), Plaintext: true}
	client := &zmtp.GSSAPIConfig{ServicePrincipal: "zmq@localhost", Plaintext: true}

	t.Run("zmq4-client", func(t *testing.T) {
		rep, err := zmtp.NewSocket(zmtp.REP, &zmtp.Config{GSSAPI: server})
		if err != nil {
			t.Fatal(err)
		}
		defer rep.Close()
		addr, err := rep.Listen("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				m, err := rep.Recv(ctx)
				if err != nil {
					return
				}
				rep.Send(ctx, append(m.Frames, []byte(m.Peer().Principal))...)
			}
		}()
		sec, err := zmq4gss.New(client, nil)
		if err != nil {
			t.Fatal(err)
		}
		var peer *zmtp.Peer
		sec.Peer = func(p *zmtp.Peer) { peer = p }
		req := zmq4.NewReq(ctx, zmq4.WithSecurity(sec))
		defer req.Close()
		if err := req.Dial("tcp://" + addr.String()); err != nil {
			t.Fatal(err)
		}
		if err := req.Send(zmq4.NewMsgString("hello")); err != nil {
			t.Fatal(err)
		}
		m, err := req.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Frames) != 2 || string(m.Frames[0]) != "hello" || string(m.Frames[1]) != r.Principal("alice") {
			t.Fatalf("reply %q", m.Frames)
		}
		if peer == nil || peer.Principal != r.Principal("zmq/localhost") {
			t.Fatalf("peer %+v", peer)
		}
	})

	t.Run("zmq4-server", func(t *testing.T) {
		var who = make(chan string, 1)
		sec, err := zmq4gss.New(server, zmtp.ZAPHandlerFunc(func(_ context.Context, req *zmtp.ZAPRequest) (*zmtp.ZAPReply, error) {
			who <- string(req.Credentials[0])
			return &zmtp.ZAPReply{StatusCode: zmtp.ZAPOK}, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		rep := zmq4.NewRep(ctx, zmq4.WithSecurity(sec))
		defer rep.Close()
		if err := rep.Listen("tcp://127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				m, err := rep.Recv()
				if err != nil {
					return
				}
				rep.Send(m)
			}
		}()
		req, err := zmtp.NewSocket(zmtp.REQ, &zmtp.Config{GSSAPI: client})
		if err != nil {
			t.Fatal(err)
		}
		defer req.Close()
		if err := req.Dial(ctx, "tcp://"+rep.Addr().String()); err != nil {
			t.Fatal(err)
		}
		if err := req.Send(ctx, []byte("a"), []byte("b")); err != nil {
			t.Fatal(err)
		}
		m, err := req.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Frames) != 2 || string(m.Frames[1]) != "b" {
			t.Fatalf("reply %q", m.Frames)
		}
		if w := <-who; w != r.Principal("alice") {
			t.Fatalf("ZAP was asked about %q", w)
		}
	})
}

// A zmq4 REQ against libzmq 4.3.4's REP, and libzmq's REQ against a zmq4
// REP, both in GSSAPI plaintext mode.
func TestZmq4WithLibzmq(t *testing.T) {
	if _, err := os.Stat(python); err != nil {
		krbtest.Missing(t, errors.New(python+" not found (apt-get install -y python3-zmq)"))
	}
	r := realm(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	peer := filepath.Join("..", "testdata", "peer.py")
	kt := r.Keytab("zmq/localhost")

	t.Run("zmq4-client", func(t *testing.T) {
		cmd := r.Cmd(ctx, python, peer, "--role", "server", "--type", "REP", "--endpoint", "tcp://127.0.0.1:0",
			"--principal", "zmq@localhost", "--plaintext", "--count", "3")
		cmd.Env = append(cmd.Env, "KRB5_KTNAME=FILE:"+kt, "KRB5_CLIENT_KTNAME=FILE:"+kt,
			"KRB5CCNAME=FILE:"+filepath.Join(t.TempDir(), "server.ccache"))
		stdin, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { stdin.Close(); cmd.Wait() }()
		line, _ := bufio.NewReader(out).ReadString('\n')
		port, ok := strings.CutPrefix(strings.TrimSpace(line), "PORT ")
		if !ok {
			t.Fatalf("libzmq server said %q", line)
		}
		sec, err := zmq4gss.New(&zmtp.GSSAPIConfig{ServicePrincipal: "zmq@localhost", Plaintext: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		req := zmq4.NewReq(ctx, zmq4.WithSecurity(sec))
		defer req.Close()
		if err := req.Dial("tcp://127.0.0.1:" + port); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if err := req.Send(zmq4.NewMsgFrom([]byte("part one"), []byte("part two"))); err != nil {
				t.Fatal(err)
			}
			m, err := req.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Frames) != 2 || string(m.Frames[1]) != "part two" {
				t.Fatalf("reply %q", m.Frames)
			}
		}
	})

	t.Run("libzmq-client", func(t *testing.T) {
		sec, err := zmq4gss.New(&zmtp.GSSAPIConfig{Server: true, Principal: "zmq@localhost", Keytab: kt, Plaintext: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rep := zmq4.NewRep(ctx, zmq4.WithSecurity(sec))
		defer rep.Close()
		if err := rep.Listen("tcp://127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				m, err := rep.Recv()
				if err != nil {
					return
				}
				rep.Send(m)
			}
		}()
		cmd := r.Cmd(ctx, python, peer, "--role", "client", "--type", "REQ", "--endpoint", "tcp://"+rep.Addr().String(),
			"--service-principal", "zmq@localhost", "--plaintext", "--count", "3", "--frames", "2")
		if _, err := cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "OK 3") {
			t.Fatalf("libzmq client: %v\n%s", err, out)
		}
	})
}
