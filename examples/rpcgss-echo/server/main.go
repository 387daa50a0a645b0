// Command server is the echo server of examples/rpcgss-echo: program
// 0x20000099 version 1 over TCP with AUTH_NONE, AUTH_SYS and RPCSEC_GSS
// (Kerberos V5, every service), so that any ONC RPC client, libtirpc's
// included, can call it.
//
//	server -port 20049 -keytab /etc/krb5.keytab -principal nfs@server.example.com
package main

import (
	"github.com/gsskit/gsskit/examples/rpcgss-echo/echo"
	_ "github.com/gsskit/gsskit/krb5" // registers the Kerberos V5 mechanism
)

func main() { echo.Main(echo.RunServer) }
