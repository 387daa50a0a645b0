// Command client is the echo client of examples/rpcgss-echo: it creates
// an RPCSEC_GSS context with the server's principal (Kerberos V5, tickets
// from KRB5CCNAME), makes echo calls with the service asked for and
// checks every reply.
//
//	client -host server.example.com -port 20049 -principal nfs@server.example.com \
//		-service privacy -size 4096 -count 10000
package main

import (
	"github.com/gsskit/gsskit/examples/rpcgss-echo/echo"
	_ "github.com/gsskit/gsskit/krb5" // registers the Kerberos V5 mechanism
)

func main() { echo.Main(echo.RunClient) }
