package gss

import (
	"context"
	"fmt"
)

// The package documentation's exchange, run with the test mechanism in a
// private registry.
func Example() {
	r := NewRegistry()
	r.Register(newToy())
	ctx := context.Background()

	target, _ := r.ImportName("nfs@server.example.com", NTHostbasedService)
	ini, _ := r.NewInitiator(&InitiatorConfig{Target: target, Mech: toyOID, Flags: FlagMutual | FlagConf})
	tok, _ := ini.Step(ctx, nil)

	acc, _ := r.NewAcceptor(&AcceptorConfig{})
	reply, _ := acc.Step(ctx, tok)
	ini.Step(ctx, reply)

	sealed, _, _ := ini.Wrap(nil, []byte("hello"), true, 0)
	plain, _, err := acc.Unwrap(nil, sealed)
	peer, _ := acc.Inquire()
	fmt.Println(ini.Done(), acc.Done(), string(plain), err, peer.Source, peer.Target)
	// Output: true true hello <nil> alice nfs/server.example.com
}
