// Command client is the echo client of examples/rpcgss-echo: it creates
// an RPCSEC_GSS context with the server's principal (Kerberos V5, tickets
// from KRB5CCNAME), makes echo calls with the service asked for and
// checks every reply.
//
//	client -host server.example.com -port 20049 -principal nfs@server.example.com \
//		-service privacy -size 4096 -count 10000
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gsskit/gsskit/examples/rpcgss-echo/echo"
	_ "github.com/gsskit/gsskit/krb5" // registers the Kerberos V5 mechanism
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(echo.RunClient(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
