package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gsskit/gsskit/proxyd"
)

const proxyUsage = `usage: gsskit proxy [-i|-D] [-d] [--debug-level N] [--syslog-status]
                    [-c FILE] [-C DIR] [-s SOCKET] [-u [--idle-timeout SECONDS]] [--version]

The gss-proxy daemon, a drop-in for gssproxy(8) with its options:
  -i, --interactive   run in the foreground (gsskit always does; see below)
  -D, --daemon        accepted for compatibility; gsskit does not fork
  -d, --debug         debug level 1
  --debug-level N     debug level N (the configuration's debug_level replaces it)
  --syslog-status     send the status of every failed call to the system log
                      (authpriv.debug, as "gssproxy"); so does syslog_status = yes
  -c, --config FILE   read FILE instead of /etc/gssproxy/gssproxy.conf
  -C, --configdir DIR read DIR/##-*.conf snippets
  -s, --socket PATH   default socket
  -u, --userproxy     user session mode: one service for the caller's own uid
  --idle-timeout N    in user mode, exit after N seconds without connections
                      (default 1000; 0 never exits)

SIGHUP reloads the configuration, SIGTERM and SIGINT stop gracefully.
Under systemd the daemon takes the sockets of socket activation
(LISTEN_FDS) and reports readiness (NOTIFY_SOCKET). With run_as_user it
drops to that user once its sockets are open.
The credential-handle secret is kept in $GSSKIT_PROXY_STATE_DIR (default
/var/lib/gssproxy; $XDG_RUNTIME_DIR/gssproxy with -u) as gsskit-handle.key.
`

// proxyMain is "gsskit proxy". A Go program cannot fork safely, so the
// daemon always stays in the foreground and leaves backgrounding to the
// service manager (contrib/systemd).
func proxyMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gsskit proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, proxyUsage) }
	var (
		interactive, daemon, debug, userproxy, version bool
		debugLevel, idle                               int
		file, dir, socket                              string
	)
	for _, n := range []string{"i", "interactive"} {
		fs.BoolVar(&interactive, n, false, "")
	}
	for _, n := range []string{"D", "daemon"} {
		fs.BoolVar(&daemon, n, false, "")
	}
	for _, n := range []string{"d", "debug"} {
		fs.BoolVar(&debug, n, false, "")
	}
	for _, n := range []string{"u", "userproxy"} {
		fs.BoolVar(&userproxy, n, false, "")
	}
	for _, n := range []string{"c", "config"} {
		fs.StringVar(&file, n, "", "")
	}
	for _, n := range []string{"C", "configdir"} {
		fs.StringVar(&dir, n, "", "")
	}
	for _, n := range []string{"s", "socket"} {
		fs.StringVar(&socket, n, "", "")
	}
	fs.IntVar(&debugLevel, "debug-level", 0, "")
	fs.IntVar(&idle, "idle-timeout", 1000, "")
	fs.BoolVar(&version, "version", false, "")
	var syslogStatus bool
	fs.BoolVar(&syslogStatus, "syslog-status", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "gsskit proxy: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 1
	}
	if version {
		fmt.Fprintln(stdout, "gsskit proxy (GSS-PROXY protocol version 1)")
		return 0
	}
	if interactive && daemon {
		fmt.Fprintln(stderr, "Option -i|--interactive is not allowed together with -D|--daemon")
		return 1
	}
	if debug && debugLevel == 0 {
		debugLevel = 1
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: proxyd.LevelTrace}))
	cfg := &proxyd.DaemonConfig{
		Load:         proxyd.LoadOptions{File: file, Dir: dir, Socket: socket},
		Userproxy:    userproxy,
		DebugLevel:   debugLevel,
		Logger:       logger,
		SyslogStatus: syslogStatus,
		// run_as_user: as the reference, switch user once the sockets
		// are open, and refuse to serve if that fails.
		DropPrivileges: true,
	}
	if sd := os.Getenv("GSSKIT_PROXY_STATE_DIR"); sd != "" {
		cfg.HandleSecretFile = sd + "/gsskit-handle.key"
	}
	if userproxy {
		cfg.IdleTimeout = time.Duration(idle) * time.Second
		// A user proxy keeps its secret in the user's runtime directory,
		// not the system state directory it cannot write.
		if rd := os.Getenv("XDG_RUNTIME_DIR"); rd != "" && cfg.HandleSecretFile == "" {
			cfg.HandleSecretFile = rd + "/gssproxy/gsskit-handle.key"
		}
	}
	d, err := proxyd.NewDaemon(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gsskit proxy: %v\n", err)
		return 1
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := d.Start(); err != nil {
		fmt.Fprintf(stderr, "gsskit proxy: %v\n", err)
		return 1
	}
	for {
		select {
		case <-hup:
			d.Reload() // logs its own failure and keeps the old configuration
			continue
		case <-d.Idle():
		case <-ctx.Done():
		}
		break
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "gsskit proxy: shutdown: %v\n", err)
		return 1
	}
	return 0
}
