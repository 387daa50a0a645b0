// Command krbrealm starts a throwaway MIT realm on loopback (see package
// krbtest), prints the environment that points programs at it, and keeps it
// running until interrupted. Scripts such as bench/run.sh use it:
//
//	go run ./internal/krbtest/cmd/krbrealm -user alice:pw -service host/localhost \
//		-kinit alice -env realm.env &
//	(wait for realm.env) . realm.env
//
// The printed lines are shell "export" statements: the KRB5_* variables of
// Realm.Env plus KRBTEST_REALM, KRBTEST_DIR, KRBTEST_KDC, KRBTEST_KEYTAB
// (the first service's keytab) and KRBTEST_CCACHE (when -kinit is given).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	log.SetFlags(0)
	log.SetPrefix("krbrealm: ")
	var users, services listFlag
	realm := flag.String("realm", krbtest.DefaultRealm, "realm name")
	flag.Var(&users, "user", "user `name:password` (repeatable)")
	flag.Var(&services, "service", "service `principal[:enctype,...]`, e.g. host/localhost (repeatable)")
	kinit := flag.String("kinit", "", "kinit this `user` into the realm's default ccache")
	envFile := flag.String("env", "", "also write the exports to this `file` (atomically, once the realm is up)")
	lifetime := flag.Duration("lifetime", 0, "ticket lifetime (default 24h)")
	flag.Parse()

	cfg := krbtest.Config{Realm: *realm, Users: map[string]string{}, TicketLifetime: *lifetime}
	for _, u := range users {
		name, pw, ok := strings.Cut(u, ":")
		if !ok {
			log.Fatalf("-user %q: want name:password", u)
		}
		cfg.Users[name] = pw
	}
	for _, s := range services {
		p, enc, _ := strings.Cut(s, ":")
		svc := krbtest.Service{Principal: p}
		if enc != "" {
			svc.Enctypes = strings.Split(enc, ",")
		}
		cfg.Services = append(cfg.Services, svc)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	r, err := krbtest.Start(ctx, cfg)
	cancel()
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	if *kinit != "" {
		if err := r.Kinit(context.Background(), *kinit, ""); err != nil {
			r.Close()
			log.Fatal(err)
		}
	}

	vars := map[string]string{}
	for _, kv := range r.Env() {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	vars["KRBTEST_REALM"] = r.Name()
	vars["KRBTEST_DIR"] = r.Dir()
	vars["KRBTEST_KDC"] = r.KDCAddr()
	if len(cfg.Services) > 0 {
		vars["KRBTEST_KEYTAB"] = r.Keytab(cfg.Services[0].Principal)
	}
	if *kinit != "" {
		vars["KRBTEST_CCACHE"] = r.DefaultCCache()
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(vars[k]))
	}
	os.Stdout.WriteString(b.String())
	if *envFile != "" {
		// Written last and renamed into place, so a script polling for
		// the file never sources half of it or a realm not yet running.
		tmp := filepath.Join(filepath.Dir(*envFile), "."+filepath.Base(*envFile)+".tmp")
		if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
			r.Close()
			log.Fatal(err)
		}
		if err := os.Rename(tmp, *envFile); err != nil {
			r.Close()
			log.Fatal(err)
		}
		defer os.Remove(*envFile)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	<-sig
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
