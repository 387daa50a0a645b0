// Command gsskit is gsskit's one binary: the gss-proxy daemon, the sample
// programs that stand in for MIT's gss-client and gss-server, and the
// interoperability demo.
//
//	gsskit sample server [-port N] [-keytab FILE] [-once] [-export] [-cb DATA] service@host
//	gsskit sample client [-port N] [-mech krb5] [-d] [-seq] [-noreplay] [-nomutual]
//	                     [-na] [-nw] [-nx|-noconf] [-nm|-nomic] [-v1] [-f] [-q]
//	                     [-ccount N] [-mcount N] [-ccache FILE] [-cb DATA] host service@host msg
//	gsskit demo
//	gsskit proxy [-i] [-d] [--debug-level N] [-c FILE] [-C DIR] [-s SOCKET] [-u [--idle-timeout N]]
//	gsskit gsscred [-f FILE] add|del|list [-n PRINCIPAL] [-m MECH] [-u UID] [-g GID] [-c COMMENT]
//	gsskit kafka-gateway --listen ADDR --upstream ADDR --keytab FILE --principal kafka/host [--rules R] [--session-lifetime D]
//	gsskit kafka-gateway --demo
//
// -cb, which MIT's programs lack, sets channel bindings (as application
// data), so that a mismatch can be shown over the sample protocol.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gsskit/gsskit/internal/gsssample"
	"github.com/gsskit/gsskit/internal/gsssample/demo"
	"github.com/gsskit/gsskit/kafka/gatewaycmd"
	_ "github.com/gsskit/gsskit/krb5" // registers the Kerberos V5 mechanism
)

const usage = `usage:
  gsskit sample server [options] service@host   (MIT gss-server's options)
  gsskit sample client [options] host service@host msg   (MIT gss-client's options)
  gsskit demo                                   (MIT <-> gsskit interop, both ways, and through gsskit proxy)
  gsskit proxy [options]                        (the gss-proxy daemon; gsskit proxy -h)
  gsskit gsscred [-f FILE] add|del|list [options] (the RPCSEC_GSS principal -> UNIX credential table)
  gsskit kafka-gateway [options] | --demo       (Kerberos SASL front for a plaintext Kafka broker)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "sample":
		if len(args) < 2 {
			break
		}
		switch args[1] {
		case "client":
			return gsssample.ClientMain(ctx, args[2:], stdout, stderr)
		case "server":
			return gsssample.ServerMain(ctx, args[2:], stdout, stderr)
		}
	case "gsscred":
		return gsscredMain(args[1:], stdout, stderr)
	case "proxy":
		return proxyMain(ctx, args[1:], stdout, stderr)
	case "kafka-gateway":
		return gatewaycmd.Main(ctx, args[1:], stdout, stderr)
	case "demo":
		if len(args) != 1 {
			break
		}
		_, code := runDemo(ctx, stdout, stderr)
		return code
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprint(stderr, usage)
	return 2
}

// runDemo is `gsskit demo`; the report is for the test, which checks what
// the daemon did and not only the exit status.
func runDemo(ctx context.Context, stdout, stderr io.Writer) (*demo.Report, int) {
	rep, err := demo.Run(ctx, demo.Config{Out: stdout})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return rep, 1
	}
	return rep, 0
}
