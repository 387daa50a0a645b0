package krb5

import (
	"sync"

	"github.com/jcmturner/gokrb5/v8/iana/keyusage"

	"github.com/gsskit/gsskit/krb5/internal/cfx"
)

// An acceptor derives two keys from each AP-REQ's ticket session key: for
// the authenticator (usage 11) and for the AP-REP (usage 12). A client
// sends every AP-REQ for a service with the ticket it holds for it, so
// consecutive AP-REQs mostly share a session key, and a busy acceptor (a
// gss-proxy daemon) would derive the same keys, and build the same cipher
// and MAC states, again and again. The derived keys of the most recent
// session keys are kept here instead, as an initiator keeps them with the
// ticket (ticketEntry). They are what the session key and the keytab
// already give, so keeping them gives away nothing the process does not
// hold anyway.

// apKeysMax bounds the session keys remembered; the oldest goes first.
const apKeysMax = 256

type apKeyID struct {
	etype int32
	n     uint8
	key   [32]byte
}

type apKeyPair struct{ auth, rep *cfx.MessageKey }

var apKeys struct {
	mu   sync.Mutex
	m    map[apKeyID]apKeyPair
	ring [apKeysMax]apKeyID
	next int
}

// apReqKeys returns the authenticator and AP-REP keys of a ticket session
// key, both nil when it is not a key cfx takes.
func apReqKeys(etype int32, key []byte) (auth, rep *cfx.MessageKey) {
	if len(key) > 32 || !cfx.Supported(etype) {
		return nil, nil
	}
	id := apKeyID{etype: etype, n: uint8(len(key))}
	copy(id.key[:], key)
	apKeys.mu.Lock()
	p, ok := apKeys.m[id]
	apKeys.mu.Unlock()
	if ok {
		return p.auth, p.rep
	}
	base, err := cfx.NewBaseKey(etype, key)
	if err != nil {
		return nil, nil
	}
	p = apKeyPair{auth: base.EncryptionKey(keyusage.AP_REQ_AUTHENTICATOR), rep: base.EncryptionKey(keyusage.AP_REP_ENCPART)}
	apKeys.mu.Lock()
	if apKeys.m == nil {
		apKeys.m = make(map[apKeyID]apKeyPair, apKeysMax)
	}
	if _, ok := apKeys.m[id]; !ok {
		if len(apKeys.m) >= apKeysMax {
			delete(apKeys.m, apKeys.ring[apKeys.next])
		}
		apKeys.m[id] = p
		apKeys.ring[apKeys.next] = id
		apKeys.next = (apKeys.next + 1) % apKeysMax
	}
	apKeys.mu.Unlock()
	return p.auth, p.rep
}
