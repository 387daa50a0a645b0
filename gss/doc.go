// Package gss is the GSS-API (RFC 2743, Go form of the RFC 2744 C calls) that
// every gsskit caller uses: names, credentials, security contexts and
// per-message protection, with the mechglue underneath that dispatches each
// call to a mechanism the way MIT krb5's does.
//
// A mechanism package registers itself from init, so importing it is enough:
//
//	import _ "github.com/gsskit/gsskit/krb5"
//
//	// Initiator.
//	target, _ := gss.ImportName("nfs@server.example.com", gss.NTHostbasedService)
//	ini, err := gss.NewInitiator(&gss.InitiatorConfig{Target: target, Flags: gss.FlagMutual | gss.FlagConf})
//	tok, err := ini.Step(ctx, nil) // send tok to the acceptor
//
//	// Acceptor (keytab from the environment, or a Credential from AcquireCredential).
//	acc, err := gss.NewAcceptor(&gss.AcceptorConfig{})
//	reply, err := acc.Step(ctx, tok) // send reply back
//	_, err = ini.Step(ctx, reply)    // loop while !Done() on either side
//
//	// Established: protect messages, appending into reusable buffers.
//	sealed, _, err := ini.Wrap(buf[:0], []byte("hello"), true, 0)
//	plain, _, err := acc.Unwrap(out[:0], sealed)
//	peer, _ := acc.Inquire() // peer.Source is the initiator's *gss.Name
//
// # Errors
//
// Every failure is a *Error carrying the RFC 2744 major status (same numeric
// values as C), the mechanism's minor status and a message naming what was
// wrong; errors.Is(err, gss.ErrBadMIC) and friends work, and DisplayStatus
// gives the texts gss_display_status would. VerifyMIC and Unwrap may return
// an *Error that carries only supplementary bits (a duplicate, old,
// unsequenced or gap token) together with valid output: IsFatal tells the
// two kinds apart.
//
// # Mechanisms and interposers
//
// A Registry holds mechanisms (Register) and interposers
// (RegisterInterposer). The package-level functions use DefaultRegistry;
// tests may build their own with NewRegistry. As in MIT's mechglue, a call
// for an OID an interposer claims goes to the interposer, and the special
// OID SpecialOID(interposer, original) — the concatenation of the two OIDs'
// bytes — reaches the original mechanism, so the interposer can call
// through: it acquires a credential for the special OID and passes it to
// its own NewAcceptor, and re-enters imports by wrapping mechanism tokens in
// the mechglue formats (AppendExportedName, AppendExportedCred,
// AppendExportedContext) with the special OID. The optional *ByMech
// interfaces tell an interposer which claimed mechanism a call is for.
//
// MIT's /etc/gss/mech, /etc/gss/mech.d/*.conf and /etc/gss/qop files are
// read by LoadConfigDir. Go cannot load C modules, so an entry names and
// orders a mechanism registered in Go under its OID; entries for modules with
// no Go implementation are listed by ConfiguredMechs but cannot be used.
//
// # Token formats
//
// AppendInitialToken and ParseInitialToken handle the RFC 2743 §3.1 framing
// of initial context tokens; Name.Export writes the RFC 2743 §3.2 exported
// name token, Name.ExportComposite the RFC 6680 04 02 form, and
// Credential.Export and SecContext.Export MIT's mechglue framing (a 4-byte
// OID length and the OID before each mechanism token), so tokens from MIT
// and gss-proxy interoperate.
package gss
