package kafka

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gsskit/gsskit/gss"
)

// GatewayUsage is the kafka-gateway subcommand's synopsis.
const GatewayUsage = `usage: gsskit kafka-gateway --listen ADDR --upstream ADDR --keytab FILE --principal kafka/host
                             [--advertise HOST:PORT] [--rules RULES] [--session-lifetime D]
                             [--max-receive-size N] [--handshake-v0] [--disable-legacy] [-v]

Clients speak SASL_PLAINTEXT with GSSAPI to the gateway; once authenticated,
their requests go to the plaintext broker at --upstream. Repeat --listen and
--upstream (in pairs) to front several brokers.

  --rules             sasl.kerberos.principal.to.local.rules, comma-separated (default DEFAULT)
  --session-lifetime  connections.max.reauth.ms: a duration (10m) or milliseconds (600000); 0 is none
  --advertise         the address put in Metadata responses (default: the principal's host and the listen port)
`

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// GatewayFlags are the parsed command line of kafka-gateway.
type GatewayFlags struct {
	Listen, Upstream, Advertise []string
	Keytab, Principal, Rules    string
	SessionLifetime             time.Duration
	MaxReceiveSize              int
	HandshakeV0, DisableLegacy  bool
	Verbose                     bool
}

// ParseGatewayFlags parses kafka-gateway's arguments.
func ParseGatewayFlags(args []string, stderr io.Writer) (*GatewayFlags, error) {
	fs := flag.NewFlagSet("kafka-gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, GatewayUsage) }
	f := &GatewayFlags{}
	var lifetime string
	fs.Var((*listFlag)(&f.Listen), "listen", "address to listen on")
	fs.Var((*listFlag)(&f.Upstream), "upstream", "the plaintext broker")
	fs.Var((*listFlag)(&f.Advertise), "advertise", "address advertised to clients")
	fs.StringVar(&f.Keytab, "keytab", "", "keytab with the gateway's key")
	fs.StringVar(&f.Principal, "principal", "", "the gateway's principal, kafka/host")
	fs.StringVar(&f.Rules, "rules", DefaultRules, "principal-to-local rules")
	fs.StringVar(&lifetime, "session-lifetime", "0", "session lifetime")
	fs.IntVar(&f.MaxReceiveSize, "max-receive-size", DefaultMaxReceiveSize, "largest SASL frame")
	fs.BoolVar(&f.HandshakeV0, "handshake-v0", false, "advertise SaslHandshake v0 only, as Kafka 0.10")
	fs.BoolVar(&f.DisableLegacy, "disable-legacy", false, "refuse the raw GSSAPI first packet, as Kafka 4.0")
	fs.BoolVar(&f.Verbose, "v", false, "log each authentication")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, errors.New("unexpected argument " + fs.Arg(0))
	}
	switch {
	case len(f.Listen) == 0 || len(f.Upstream) == 0:
		return nil, errors.New("--listen and --upstream are required")
	case len(f.Listen) != len(f.Upstream):
		return nil, errors.New("give --listen and --upstream in pairs")
	case len(f.Advertise) > len(f.Listen):
		return nil, errors.New("more --advertise than --listen")
	case f.Principal == "":
		return nil, errors.New("--principal is required (kafka/host)")
	}
	d, err := parseLifetime(lifetime)
	if err != nil {
		return nil, err
	}
	f.SessionLifetime = d
	return f, nil
}

func parseLifetime(s string) (time.Duration, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 {
			return 0, errors.New("--session-lifetime must not be negative")
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("--session-lifetime " + s + ": want a duration like 10m or milliseconds")
	}
	return d, nil
}

// NewGatewayFromFlags acquires the gateway's credential, checks the rules
// and builds the gateway (not yet listening).
func NewGatewayFromFlags(ctx context.Context, f *GatewayFlags, logger *slog.Logger) (*Gateway, error) {
	name, err := gss.ImportName(f.Principal, gss.NTKrb5Principal)
	if err != nil {
		return nil, fmt.Errorf("--principal %s: %w", f.Principal, err)
	}
	cfg := &gss.CredentialConfig{Name: name, Usage: gss.CredAccept, Mechs: gss.OIDSet{gss.MechKrb5}}
	if f.Keytab != "" {
		cfg.Store = gss.CredStore{"keytab": f.Keytab}
	}
	cred, err := gss.AcquireCredential(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("acceptor credential for %s: %w", f.Principal, err)
	}
	realm, err := defaultRealm(nil, cred)
	if err != nil {
		return nil, err
	}
	rules, err := NewShortNamer(realm, SplitRules(f.Rules))
	if err != nil {
		return nil, err
	}
	host := ""
	if _, h, ok := strings.Cut(strings.SplitN(f.Principal, "@", 2)[0], "/"); ok {
		host = h
	}
	gc := &GatewayConfig{
		AdvertiseHost: host,
		Logger:        logger,
		Auth: ServerConfig{
			Credential:      cred,
			Rules:           rules,
			SessionLifetime: f.SessionLifetime,
			MaxReceiveSize:  f.MaxReceiveSize,
			HandshakeV0:     f.HandshakeV0,
			DisableLegacy:   f.DisableLegacy,
		},
	}
	for i := range f.Listen {
		r := Route{Listen: f.Listen[i], Upstream: f.Upstream[i]}
		if i < len(f.Advertise) {
			r.Advertise = f.Advertise[i]
		}
		gc.Routes = append(gc.Routes, r)
	}
	return NewGateway(gc)
}

// GatewayMain is `gsskit kafka-gateway`: it runs until ctx ends.
func GatewayMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := ParseGatewayFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "kafka-gateway: %v\n%s", err, GatewayUsage)
		return 2
	}
	level := slog.LevelInfo
	if f.Verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	gw, err := NewGatewayFromFlags(ctx, f, logger)
	if err != nil {
		fmt.Fprintf(stderr, "kafka-gateway: %v\n", err)
		return 1
	}
	if err := gw.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "kafka-gateway: %v\n", err)
		return 1
	}
	for i, a := range gw.Addrs() {
		fmt.Fprintf(stdout, "kafka-gateway: listening on %s (advertised %s), upstream %s\n", a, gw.Advertised()[i], f.Upstream[i])
	}
	<-ctx.Done()
	gw.Close()
	s := gw.Stats()
	fmt.Fprintf(stdout, "kafka-gateway: %d connections, %d authentications, %d re-authentications, %d failures, %d requests forwarded\n",
		s.Connections, s.Auth.Authentications, s.Auth.Reauthentications, s.Auth.Failures, s.Forwarded)
	return 0
}
