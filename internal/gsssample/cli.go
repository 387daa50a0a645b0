package gsssample

import (
	"context"

	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"github.com/gsskit/gsskit/gss"
)

// ClientMain is `gsskit sample client`: gss-client's command line, with its
// option names, so that an administrator can swap one program for the other.
// It returns the process exit status.
func ClientMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gsskit sample client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		port                          = fs.Int("port", 4444, "server TCP `port`")
		mech                          = fs.String("mech", "", "mechanism: krb5, a name from /etc/gss/mech, or an OID")
		krb5Flag                      = fs.Bool("krb5", false, "use the Kerberos V5 mechanism (as -mech krb5)")
		deleg                         = fs.Bool("d", false, "delegate credentials (GSS_C_DELEG_FLAG)")
		seq                           = fs.Bool("seq", false, "ask for sequence checking (GSS_C_SEQUENCE_FLAG)")
		noreplay                      = fs.Bool("noreplay", false, "do not ask for replay detection")
		nomutual                      = fs.Bool("nomutual", false, "do not ask for mutual authentication")
		useFile                       = fs.Bool("f", false, "msg names a file whose contents are sent")
		quiet                         = fs.Bool("q", false, "print only errors")
		ccount                        = fs.Int("ccount", 1, "number of connections")
		mcount                        = fs.Int("mcount", 1, "messages per connection")
		noauth, nowrap, noconf, nomic bool
		v1                            = fs.Bool("v1", false, "use the v1 format (no flag bytes)")
		ccache                        = fs.String("ccache", "", "initiator credential cache `file` (default: KRB5CCNAME)")
		cb                            = fs.String("cb", "", "channel-binding application `data` (gsskit only: MIT's gss-client sends none)")
	)
	fs.BoolVar(&noauth, "na", false, "no authentication: send the message in the clear")
	fs.BoolVar(&nowrap, "nw", false, "do not wrap the message")
	fs.BoolVar(&noconf, "nx", false, "wrap without confidentiality")
	fs.BoolVar(&noconf, "noconf", false, "same as -nx")
	fs.BoolVar(&nomic, "nm", false, "do not ask the server for a MIC")
	fs.BoolVar(&nomic, "nomic", false, "same as -nm")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gsskit sample client [options] host service@host msg")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 3 || *ccount <= 0 || *mcount < 0 || *port <= 0 || *port > 65535 {
		fs.Usage()
		return 2
	}
	host, service, msgArg := fs.Arg(0), fs.Arg(1), fs.Arg(2)

	flags := DefaultFlags
	if *deleg {
		flags |= gss.FlagDeleg
	}
	if *seq {
		flags |= gss.FlagSequence
	}
	if *noreplay {
		flags &^= gss.FlagReplay
	}
	if *nomutual {
		flags &^= gss.FlagMutual
	}
	var mechOID gss.OID
	if *krb5Flag {
		mechOID = gss.MechKrb5
	}
	if *mech != "" {
		var err error
		if mechOID, err = ParseMech(*mech); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	msg := []byte(msgArg)
	if *useFile {
		var err error
		if msg, err = os.ReadFile(msgArg); err != nil {
			fmt.Fprintln(stderr, "gsskit sample client:", err)
			return 1
		}
	}
	var cred *gss.Credential
	if !noauth {
		var err error
		if cred, err = InitiatorCredential(ctx, *ccache, mechOID); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	if cred != nil {
		defer cred.Release()
	}
	c := &Client{
		Target: service, Mech: mechOID, Flags: flags, Credential: cred,
		NoAuth: noauth, NoWrap: nowrap, NoConf: noconf, NoMIC: nomic, V1: *v1,
		MCount: *mcount, ChannelBindings: channelBindings(*cb),
	}
	if *mcount == 0 {
		c.MCount = -1
	}
	if !*quiet {
		c.Log = stdout
	}
	addr := net.JoinHostPort(host, strconv.Itoa(*port))
	for i := 0; i < *ccount; i++ {
		res, err := c.Call(ctx, addr, msg)
		if err != nil {
			fmt.Fprintln(stderr, "gsskit sample client:", err)
			return 1
		}
		if !*quiet {
			fmt.Fprintf(stdout, "connection %d: %d messages, %d MICs verified\n", i+1, res.Sent, res.MICsVerified)
		}
	}
	return 0
}

// ServerMain is `gsskit sample server`: gss-server's command line. It
// returns the process exit status.
func ServerMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gsskit sample server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 4444, "TCP `port` to listen on (0 picks a free one)")
	keytab := fs.String("keytab", "", "acceptor keytab `file` (default: KRB5_KTNAME)")
	once := fs.Bool("once", false, "serve one connection and exit")
	export := fs.Bool("export", false, "export and re-import each context three times")
	quiet := fs.Bool("q", false, "print only errors")
	logfile := fs.String("logfile", "", "append the conversation log to `file` instead of stdout")
	fs.Bool("verbose", false, "accepted for compatibility; the log is always detailed")
	cb := fs.String("cb", "", "channel-binding application `data` (gsskit only: MIT's gss-server takes none)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gsskit sample server [options] service@host")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || len(fs.Arg(0)) == 0 || fs.Arg(0)[0] == '-' || *port < 0 || *port > 65535 {
		fs.Usage()
		return 2
	}
	service := fs.Arg(0)
	cred, err := AcceptorCredential(ctx, service, *keytab)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer cred.Release()

	var log io.Writer = stdout
	if *logfile != "" {
		f, err := os.OpenFile(*logfile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			fmt.Fprintln(stderr, "gsskit sample server:", err)
			return 1
		}
		defer f.Close()
		log = f
	}
	if *quiet {
		log = nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(stderr, "gsskit sample server:", err)
		return 1
	}
	// gss-server says "starting..." on stderr once it listens; scripts wait
	// for it. The address follows, because -port 0 picks one.
	fmt.Fprintf(stderr, "starting... listening on %s\n", ln.Addr())
	srv := &Server{Credential: cred, Export: *export, Log: log, ChannelBindings: channelBindings(*cb)}
	srv.Handle = func(s *Session, err error) {
		if s != nil && s.Delegated != nil {
			if log != nil {
				if info, ierr := s.Delegated.Inquire(); ierr == nil {
					fmt.Fprintf(log, "server: delegated credential for %s\n", displayName(info.Name))
				}
			}
			s.Delegated.Release()
		}
	}
	if err := srv.Serve(ctx, ln, *once); err != nil {
		fmt.Fprintln(stderr, "gsskit sample server:", err)
		return 1
	}
	return 0
}

// channelBindings turns a -cb argument into bindings that carry it as
// application data; empty means none, as MIT's sample programs always pass.
func channelBindings(data string) *gss.ChannelBindings {
	if data == "" {
		return nil
	}
	return &gss.ChannelBindings{ApplicationData: []byte(data)}
}
