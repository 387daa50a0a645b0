// Command proxybench measures gss-proxy daemons under the load of many
// client processes: the reference gssproxy and gsskit's `gsskit proxy`, in
// the same run, on the same throwaway MIT realm, with the same
// configuration and the same clients.
//
//	go run ./bench/proxybench [-clients 32] [-calls 1000] [-rounds 3]
//
// or bench/proxy.sh, which checks the Debian packages first.
//
// The clients are unmodified MIT GSS-API (python3-gssapi) going through
// the reference interposer (proxymech.so) with GSSPROXY_BEHAVIOR=REMOTE_ONLY,
// so every measured call is one RPC to the daemon and nothing can fall back
// to a local mechanism:
//
//   - accept: each client accepts AP-REQ tokens that a local MIT initiator
//     made beforehand (mutual authentication, so the daemon also builds the
//     AP-REP); the client has no keytab, the daemon answers
//     ACCEPT_SEC_CONTEXT from its service keytab.
//   - init: each client initiates to host@localhost with no tickets or
//     keys; the daemon answers INIT_SEC_CONTEXT from its client keytab (no
//     mutual authentication, so one call completes the context). A sample
//     of the tokens is accepted afterwards by a local MIT acceptor with the
//     service keytab, to show the daemon produced good ones.
//
// Each client acquires its credential through the daemon once, so that every
// timed call is exactly one ACCEPT_SEC_CONTEXT or INIT_SEC_CONTEXT RPC
// carrying the daemon's credential handle (given no credential, the
// interposer sends an ACQUIRE_CRED before each of them).
//
// Each client makes one untimed call (connecting to the daemon), waits until
// all are ready, then makes its timed calls and prints one JSON line with
// each call's latency; -raw keeps those lines. Throughput is all timed calls
// over the span from the first client's start to the last client's end.
// The daemon's CPU time is utime+stime of its process (all threads) from
// /proc/PID/stat, read just before the clients start and after the last
// one reports.
package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/internal/proxyrun"
	"github.com/gsskit/gsskit/internal/proxytest"
)

//go:embed client.py
var clientPy []byte

const (
	service = "host/localhost"
	target  = "host@localhost"
	user    = "alice"
)

type options struct {
	clients, calls, rounds int
	ops, daemons           []string
	gsskitBin              string
	timeout                time.Duration
	raw                    string
	keep                   bool
	debugLevel             int
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("proxybench: ")
	var o options
	var ops, daemons string
	flag.IntVar(&o.clients, "clients", 32, "concurrent client processes")
	flag.IntVar(&o.calls, "calls", 1000, "timed calls per client and operation")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each round runs every daemon once, the order alternating")
	flag.StringVar(&ops, "ops", "accept,init", "operations to measure")
	flag.StringVar(&daemons, "daemons", "reference,gsskit", "daemons to measure")
	flag.StringVar(&o.gsskitBin, "gsskit", "", "a built gsskit binary (default: go build ./cmd/gsskit)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up on one measurement after this long")
	flag.StringVar(&o.raw, "raw", "", "append every client's JSON result line to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (daemon logs, configs)")
	flag.IntVar(&o.debugLevel, "debug-level", 0, "the daemons' debug_level (2 logs every call; not for timing)")
	flag.Parse()
	o.ops = strings.Split(ops, ",")
	o.daemons = strings.Split(daemons, ",")
	for _, op := range o.ops {
		if op != "accept" && op != "init" {
			log.Fatalf("-ops: unknown operation %q", op)
		}
	}
	for _, d := range o.daemons {
		if d != "reference" && d != "gsskit" {
			log.Fatalf("-daemons: unknown daemon %q", d)
		}
	}
	if o.clients < 1 || o.calls < 1 || o.rounds < 1 {
		log.Fatal("-clients, -calls and -rounds must be positive")
	}
	os.Exit(run(&o))
}

// cleanups stop what the harness started (the daemons run in process
// groups of their own, so an interrupt does not reach them), also when it
// is interrupted.
var cleanups struct {
	sync.Mutex
	fs []func()
}

func atExit(f func()) {
	cleanups.Lock()
	cleanups.fs = append(cleanups.fs, f)
	cleanups.Unlock()
}

func runCleanups() {
	cleanups.Lock()
	fs := cleanups.fs
	cleanups.fs = nil
	cleanups.Unlock()
	for _, f := range slices.Backward(fs) {
		f()
	}
}

func run(o *options) int {
	defer runCleanups()
	// A closed stdout (| head) must not kill the harness before it has
	// stopped its daemons.
	signal.Ignore(syscall.SIGPIPE)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		log.Printf("%v: stopping", s)
		runCleanups()
		os.Exit(1)
	}()
	if err := preflight(); err != nil {
		log.Print(err)
		return 1
	}
	// Socket paths are limited to 107 bytes, so a short directory.
	work, err := os.MkdirTemp("", "pxb")
	if err != nil {
		log.Print(err)
		return 1
	}
	if o.keep {
		fmt.Printf("work directory: %s\n", work)
	} else {
		atExit(func() { os.RemoveAll(work) })
	}
	b := &bench{o: o, work: work}
	if o.raw != "" {
		f, err := os.OpenFile(o.raw, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			log.Print(err)
			return 1
		}
		defer f.Close()
		b.raw = f
	}
	if err := b.setup(); err != nil {
		log.Print(err)
		return 1
	}

	var results []*result
	failed := false
	for round := 1; round <= o.rounds; round++ {
		order := slices.Clone(o.daemons)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, name := range order {
			rs, err := b.round(round, name)
			results = append(results, rs...)
			if err != nil {
				log.Printf("round %d, %s: %v", round, name, err)
				failed = true
			}
		}
	}
	report(os.Stdout, o, results)
	if failed {
		return 1
	}
	return 0
}

func preflight() error {
	if _, err := proxytest.ReferenceBinary(); err != nil {
		return err
	}
	if _, err := proxyrun.InterposerLibrary(); err != nil {
		return err
	}
	out, err := exec.Command(proxytest.Python, "-c", "import gssapi").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s cannot import gssapi (Debian package python3-gssapi): %v\n%s", proxytest.Python, err, out)
	}
	return krbtest.ServerToolsInstalled()
}

type bench struct {
	o       *options
	work    string
	raw     io.Writer
	realm   *krbtest.Realm
	aliceCC string
	script  string
	gsskit  string
}

func (b *bench) setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fmt.Printf("machine: %d CPUs, %s, load average %s\n", runtime.NumCPU(), runtime.GOARCH, loadavg())
	if slices.Contains(b.o.daemons, "gsskit") {
		b.gsskit = b.o.gsskitBin
		if b.gsskit == "" {
			b.gsskit = filepath.Join(b.work, "gsskit")
			cmd := exec.CommandContext(ctx, "go", "build", "-o", b.gsskit, "github.com/gsskit/gsskit/cmd/gsskit")
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("building gsskit: %v\n%s", err, out)
			}
		}
	}
	r, err := krbtest.Start(ctx, krbtest.Config{
		Users:    map[string]string{user: "proxybench-" + user},
		Services: []krbtest.Service{{Principal: service}},
	})
	if err != nil {
		return err
	}
	b.realm = r
	atExit(func() { r.Close() })
	b.aliceCC = filepath.Join(b.work, "alice.ccache")
	if err := r.Kinit(ctx, user, b.aliceCC); err != nil {
		return err
	}
	b.script = filepath.Join(b.work, "client.py")
	return os.WriteFile(b.script, clientPy, 0o644)
}

// config is the one configuration both daemons run: an acceptor service
// with the service keytab and an initiator service with alice's client
// keytab. Only the directory differs between runs.
func (b *bench) config(dir string) proxyrun.Config {
	return proxyrun.Config{
		DebugLevel: b.o.debugLevel,
		Services: []proxyrun.Service{
			{Name: "accept", Keytab: b.realm.Keytab(service), CredUsage: "accept"},
			{Name: "init", ClientKeytab: b.realm.ClientKeytab(user),
				CCache: "FILE:" + filepath.Join(dir, "init-%U.ccache"), CredUsage: "initiate"},
		},
	}
}

// daemon is one running daemon, whichever it is.
type daemon interface {
	pid() int
	socket(service string) string
	log() string
	stop() error
}

type refDaemon struct{ *proxytest.Reference }

func (r refDaemon) pid() int               { return r.PID() }
func (r refDaemon) socket(s string) string { return r.Socket(s) }
func (r refDaemon) log() string            { return r.Log() }
func (r refDaemon) stop() error            { return r.Stop() }

// gsskitDaemon is `gsskit proxy` in a process of its own, like the
// reference, so that its /proc/PID/stat counts nothing but the daemon.
type gsskitDaemon struct {
	layout  *proxyrun.Layout
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	once    sync.Once
	err     error
}

func (g *gsskitDaemon) pid() int               { return g.cmd.Process.Pid }
func (g *gsskitDaemon) socket(s string) string { return g.layout.Sockets[s] }
func (g *gsskitDaemon) log() string {
	b, _ := os.ReadFile(g.logPath)
	return string(b)
}

func (g *gsskitDaemon) stop() error {
	g.once.Do(func() {
		select {
		case <-g.done:
			g.err = errors.New("gsskit proxy had already exited")
			return
		default:
		}
		g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.done:
		case <-time.After(30 * time.Second):
			g.cmd.Process.Kill()
			<-g.done
			g.err = errors.New("gsskit proxy ignored SIGTERM for 30s and was killed")
		}
	})
	return g.err
}

func (b *bench) startGsskit(ctx context.Context, dir string, cfg proxyrun.Config) (*gsskitDaemon, error) {
	layout, err := proxyrun.WriteConfig(dir, cfg)
	if err != nil {
		return nil, err
	}
	env, err := proxyrun.DaemonEnv(layout.Dir, b.realm, cfg.DebugLevel)
	if err != nil {
		return nil, err
	}
	env = append(env, "GSSKIT_PROXY_STATE_DIR="+layout.Dir)
	g := &gsskitDaemon{layout: layout, logPath: filepath.Join(layout.Dir, "gsskit.log"), done: make(chan struct{})}
	logf, err := os.Create(g.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	g.cmd = exec.Command(b.gsskit, "proxy", "-i", "-c", layout.ConfPath, "-s", layout.DefaultSocket)
	g.cmd.Env = env
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := g.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { g.cmd.Wait(); close(g.done) }()
	for _, s := range layout.Config.Services {
		if err := proxyrun.WaitSocket(ctx, s.Socket, g.done); err != nil {
			g.stop()
			return nil, fmt.Errorf("gsskit proxy, service %s: %v\n%s", s.Name, err, g.log())
		}
	}
	return g, nil
}

// round starts one daemon and measures every operation against it.
func (b *bench) round(round int, name string) ([]*result, error) {
	dir := filepath.Join(b.work, fmt.Sprintf("r%d-%s", round, name))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := b.config(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var d daemon
	switch name {
	case "reference":
		ref, err := proxytest.LaunchReference(ctx, dir, b.realm, cfg)
		if err != nil {
			return nil, err
		}
		d = refDaemon{ref}
	case "gsskit":
		g, err := b.startGsskit(ctx, dir, cfg)
		if err != nil {
			return nil, err
		}
		d = g
	}
	atExit(func() { d.stop() })
	var results []*result
	var errs []error
	for _, op := range b.o.ops {
		fmt.Printf("== round %d/%d: %s, %s: %d clients x %d calls (load average %s)\n", round, b.o.rounds, name, op, b.o.clients, b.o.calls, loadavg())
		res, err := b.measure(d, name, op, filepath.Join(dir, op))
		if res != nil {
			res.round = round
			results = append(results, res)
			fmt.Println("   " + res.line())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", op, err))
		}
	}
	if err := d.stop(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		errs = append(errs, fmt.Errorf("%s daemon log (last lines):\n%s", name, tail(d.log(), 40)))
	}
	return results, errors.Join(errs...)
}

// clientResult is the JSON line a client prints after its timed calls.
type clientResult struct {
	Op           string          `json:"op"`
	StartNS      int64           `json:"start_ns"`
	EndNS        int64           `json:"end_ns"`
	Calls        int             `json:"calls"`
	Errors       int             `json:"errors"`
	ErrorSamples []string        `json:"error_samples"`
	First        json.RawMessage `json:"first"`
	Last         json.RawMessage `json:"last"`
	LatNS        []int64         `json:"lat_ns"`
}

type result struct {
	daemon, op   string
	round        int
	clients      int
	calls        int // timed calls made
	errors       int
	errorSamples []string
	span         time.Duration
	lat          []int64 // of the successful calls, sorted
	daemonCPU    time.Duration
	clientCPU    time.Duration
	// kdcAS and kdcTGS count the KDC's AS and TGS requests while the
	// calls were timed: an initiating daemon that keeps its tickets makes
	// none.
	kdcAS, kdcTGS int
	notes         []string
}

func (r *result) rate() float64 {
	if r.span <= 0 {
		return 0
	}
	return float64(r.calls-r.errors) / r.span.Seconds()
}

func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(r.lat)))) - 1
	return time.Duration(r.lat[max(i, 0)])
}

func (r *result) cpuPerCall() time.Duration {
	if r.calls == 0 {
		return 0
	}
	return r.daemonCPU / time.Duration(r.calls)
}

func (r *result) clientCPUPerCall() time.Duration {
	if r.calls == 0 {
		return 0
	}
	return r.clientCPU / time.Duration(r.calls)
}

func (r *result) line() string {
	s := fmt.Sprintf("%.0f calls/s, p50 %s, p99 %s, max %s, daemon CPU %s/call, clients' CPU %s/call, %d errors, KDC requests while timed: %d AS, %d TGS",
		r.rate(), ms(r.pct(0.50)), ms(r.pct(0.99)), ms(r.pct(1)), us(r.cpuPerCall()), us(r.clientCPUPerCall()), r.errors, r.kdcAS, r.kdcTGS)
	for _, e := range r.errorSamples {
		s += "\n   error: " + e
	}
	for _, n := range r.notes {
		s += "\n   " + n
	}
	return s
}

// client is one running load process.
type client struct {
	id     int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *bytes.Buffer
	done   chan struct{}
}

func (c *client) readLine() ([]byte, error) {
	line, err := c.out.ReadBytes('\n')
	if err != nil {
		c.cmd.Process.Kill()
		<-c.done
		return nil, fmt.Errorf("client %d: %v (%v)\n%s", c.id, err, c.cmd.ProcessState, tail(c.stderr.String(), 20))
	}
	return line, nil
}

// measure runs one operation against one daemon.
func (b *bench) measure(d daemon, name, op, dir string) (*result, error) {
	o := b.o
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	argv := make([][]string, o.clients)
	cdirs := make([]string, o.clients)
	for i := range o.clients {
		cdirs[i] = filepath.Join(dir, fmt.Sprintf("c%02d", i))
		if err := os.Mkdir(cdirs[i], 0o700); err != nil {
			return nil, err
		}
	}
	switch op {
	case "accept":
		files := make([]string, o.clients)
		for i := range files {
			files[i] = filepath.Join(cdirs[i], "tokens")
			argv[i] = []string{b.script, "accept", files[i], strconv.Itoa(o.calls)}
		}
		if err := b.makeTokens(ctx, dir, files, o.calls+1); err != nil {
			return nil, err
		}
	case "init":
		for i := range argv {
			argv[i] = []string{b.script, "init", target, strconv.Itoa(o.calls)}
		}
	}

	clients := make([]*client, o.clients)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.cmd.Process.Kill()
				<-c.done
			}
		}
	}()
	for i := range clients {
		c := &client{id: i, stderr: &bytes.Buffer{}, done: make(chan struct{})}
		c.cmd = exec.CommandContext(ctx, proxytest.Python, argv[i]...)
		var err error
		// Each client has its own ccache, where the interposer keeps
		// the daemon's credential handle.
		if c.cmd.Env, err = proxyrun.ClientEnv(cdirs[i], b.realm, d.socket(op), proxyrun.RemoteOnly); err != nil {
			return nil, err
		}
		c.cmd.Stderr = c.stderr
		if c.stdin, err = c.cmd.StdinPipe(); err != nil {
			return nil, err
		}
		stdout, err := c.cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		c.out = bufio.NewReaderSize(stdout, 1<<16)
		if err := c.cmd.Start(); err != nil {
			return nil, err
		}
		go func() { c.cmd.Wait(); close(c.done) }()
		clients[i] = c
	}
	// The warm-up calls run concurrently, like the timed ones, but a
	// failure there is fatal: the daemon cannot serve this operation.
	var firsts []json.RawMessage
	for _, c := range clients {
		line, err := c.readLine()
		if err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		var ready struct {
			Ready bool            `json:"ready"`
			First json.RawMessage `json:"first"`
		}
		if err := json.Unmarshal(line, &ready); err != nil || !ready.Ready {
			return nil, fmt.Errorf("client %d: unexpected %q", c.id, line)
		}
		firsts = append(firsts, ready.First)
	}

	kdc0 := kdcRequests(b.realm.KDCLog())
	cpu0, err := procCPU(d.pid())
	if err != nil {
		return nil, err
	}
	for _, c := range clients {
		if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
			return nil, fmt.Errorf("client %d: %v", c.id, err)
		}
	}
	res := &result{daemon: name, op: op, clients: o.clients}
	crs := make([]*clientResult, len(clients))
	lines := make([][]byte, len(clients))
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			lines[i], errs[i] = c.readLine()
		})
	}
	wg.Wait()
	cpu1, cpuErr := procCPU(d.pid())
	res.kdcAS, res.kdcTGS = kdcRequests(b.realm.KDCLog()).sub(kdc0)
	if err := errors.Join(errs...); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("stalled: not every client finished its %d calls within %s (-timeout): %w", o.calls, o.timeout, err)
		}
		return nil, err
	}
	if cpuErr != nil {
		return nil, cpuErr
	}
	res.daemonCPU = cpu1 - cpu0
	var start, end int64 = math.MaxInt64, math.MinInt64
	for i, c := range clients {
		c.stdin.Close()
		<-c.done
		if !c.cmd.ProcessState.Success() {
			return nil, fmt.Errorf("client %d: %v\n%s", c.id, c.cmd.ProcessState, tail(c.stderr.String(), 20))
		}
		res.clientCPU += c.cmd.ProcessState.UserTime() + c.cmd.ProcessState.SystemTime()
		if b.raw != nil {
			fmt.Fprintf(b.raw, "{\"daemon\":%q,\"client\":%d,\"result\":%s}\n", name, c.id, bytes.TrimSpace(lines[i]))
		}
		cr := &clientResult{}
		if err := json.Unmarshal(lines[i], cr); err != nil {
			return nil, fmt.Errorf("client %d: %v in %.200q", c.id, err, lines[i])
		}
		crs[i] = cr
		start, end = min(start, cr.StartNS), max(end, cr.EndNS)
		res.calls += cr.Calls
		res.errors += cr.Errors
		for _, s := range cr.ErrorSamples {
			if len(res.errorSamples) < 5 {
				res.errorSamples = append(res.errorSamples, fmt.Sprintf("client %d: %s", c.id, s))
			}
		}
		res.lat = append(res.lat, cr.LatNS...)
	}
	// The clients' CPU includes interpreter start-up and the warm-up
	// call, which are outside the timed window; it is shown to say where
	// the machine's time went, not compared.
	slices.Sort(res.lat)
	res.span = time.Duration(end - start)
	if err := b.check(ctx, dir, op, firsts, crs, res); err != nil {
		return res, err
	}
	if res.errors > 0 {
		return res, fmt.Errorf("%d of %d calls failed", res.errors, res.calls)
	}
	return res, nil
}

// makeTokens has local MIT initiators write n AP-REQ tokens into each
// file, two processes in parallel (one per CPU of the machine they were
// written for).
func (b *bench) makeTokens(ctx context.Context, dir string, files []string, n int) error {
	procs := min(max(runtime.NumCPU(), 1), len(files))
	env, err := b.localEnv(filepath.Join(dir, "mktokens"), b.aliceCC)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, procs)
	for p := range procs {
		var mine []string
		for i := p; i < len(files); i += procs {
			mine = append(mine, files[i])
		}
		wg.Go(func() {
			args := append([]string{b.script, "mktokens", target, strconv.Itoa(n)}, mine...)
			cmd := exec.CommandContext(ctx, proxytest.Python, args...)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[p] = fmt.Errorf("making tokens: %v\n%s", err, tail(string(out), 20))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// check looks at what the calls produced, outside the timed window: every
// accepted context names alice as its initiator, and the first and last
// init tokens of every client are accepted by a local MIT acceptor with the
// service keytab.
func (b *bench) check(ctx context.Context, dir, op string, firsts []json.RawMessage, crs []*clientResult, res *result) error {
	samples := slices.Clone(firsts)
	for _, cr := range crs {
		if cr.Last != nil && string(cr.Last) != "null" {
			samples = append(samples, cr.Last)
		}
	}
	want := b.realm.Principal(user)
	var bad []string
	switch op {
	case "accept":
		for _, s := range samples {
			var v struct{ Initiator string }
			if json.Unmarshal(s, &v); v.Initiator != want {
				bad = append(bad, fmt.Sprintf("accepted context's initiator %q, want %q", v.Initiator, want))
			}
		}
		res.notes = append(res.notes, fmt.Sprintf("checked: %d accepted contexts name %s", len(samples)-len(bad), want))
	case "init":
		var in strings.Builder
		for _, s := range samples {
			var v struct{ Token string }
			json.Unmarshal(s, &v)
			in.WriteString(v.Token + "\n")
		}
		vdir := filepath.Join(dir, "verify")
		env, err := b.localEnv(vdir, filepath.Join(vdir, "ccache"))
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, proxytest.Python, b.script, "verify")
		cmd.Env = append(env, "KRB5_KTNAME=FILE:"+b.realm.Keytab(service))
		cmd.Stdin = strings.NewReader(in.String())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("verifying init tokens: %v\n%s", err, stderr.String())
		}
		n := 0
		for line := range strings.Lines(string(out)) {
			var v struct {
				OK        bool
				Initiator string
				Error     string
			}
			json.Unmarshal([]byte(line), &v)
			n++
			if !v.OK || v.Initiator != want {
				bad = append(bad, fmt.Sprintf("local acceptor: ok=%v initiator=%q %s", v.OK, v.Initiator, v.Error))
			}
		}
		if n != len(samples) {
			bad = append(bad, fmt.Sprintf("verifier answered %d of %d tokens", n, len(samples)))
		}
		res.notes = append(res.notes, fmt.Sprintf("checked: a local MIT acceptor accepted %d of %d sampled tokens from %s", n-len(bad), len(samples), want))
	}
	if len(bad) > 0 {
		return fmt.Errorf("wrong results: %s", strings.Join(bad[:min(len(bad), 5)], "; "))
	}
	return nil
}

// localEnv is for the token maker and the verifier: MIT's own krb5
// mechanism, no interposer, files in dir.
func (b *bench) localEnv(dir, ccache string) ([]string, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	return proxyrun.LocalEnv(dir, b.realm, ccache)
}

// procCPU is the user plus system time of a process and all its threads,
// live and exited. /proc reports it in clock ticks of USER_HZ, which the
// kernel fixes at 100 on every architecture for this interface.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name in parentheses may contain spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %v", pid, err)
	}
	return time.Duration(ut+st) * (time.Second / 100), nil
}

type kdcCount struct{ as, tgs int }

func (a kdcCount) sub(b kdcCount) (as, tgs int) { return a.as - b.as, a.tgs - b.tgs }

// kdcRequests counts the requests MIT krb5kdc has logged ("AS_REQ (...",
// "TGS_REQ (...", one line each).
func kdcRequests(log string) kdcCount {
	return kdcCount{strings.Count(log, " AS_REQ "), strings.Count(log, " TGS_REQ ")}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// report prints, per daemon and operation, the median over the rounds of
// each figure, then ours over the reference's with the goals.
func report(w io.Writer, o *options, results []*result) {
	type key struct{ daemon, op string }
	type row struct {
		rate, p50, p99, max, cpu, ccpu float64
		errors, rounds                 int
	}
	groups := map[key][]*result{}
	for _, r := range results {
		k := key{r.daemon, r.op}
		groups[k] = append(groups[k], r)
	}
	rows := map[key]row{}
	fmt.Fprintf(w, "\n== %d clients, %d timed calls each per operation; median of %d round(s)\n\n", o.clients, o.calls, o.rounds)
	fmt.Fprintf(w, "| daemon | op | rounds | calls/s | p50 ms | p99 ms | max ms | daemon CPU µs/call | clients' CPU µs/call | errors |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, op := range o.ops {
		for _, d := range o.daemons {
			k := key{d, op}
			rs := groups[k]
			if len(rs) == 0 {
				fmt.Fprintf(w, "| %s | %s | 0 | - | - | - | - | - | - | - |\n", d, op)
				continue
			}
			med := func(f func(*result) float64) float64 {
				v := make([]float64, len(rs))
				for i, r := range rs {
					v[i] = f(r)
				}
				slices.Sort(v)
				if len(v)%2 == 1 {
					return v[len(v)/2]
				}
				return (v[len(v)/2-1] + v[len(v)/2]) / 2
			}
			rw := row{
				rate:   med(func(r *result) float64 { return r.rate() }),
				p50:    med(func(r *result) float64 { return float64(r.pct(0.5)) / 1e6 }),
				p99:    med(func(r *result) float64 { return float64(r.pct(0.99)) / 1e6 }),
				max:    med(func(r *result) float64 { return float64(r.pct(1)) / 1e6 }),
				cpu:    med(func(r *result) float64 { return float64(r.cpuPerCall()) / 1e3 }),
				ccpu:   med(func(r *result) float64 { return float64(r.clientCPUPerCall()) / 1e3 }),
				rounds: len(rs),
			}
			for _, r := range rs {
				rw.errors += r.errors
			}
			rows[k] = rw
			fmt.Fprintf(w, "| %s | %s | %d | %.0f | %.2f | %.2f | %.2f | %.1f | %.1f | %d |\n",
				d, op, rw.rounds, rw.rate, rw.p50, rw.p99, rw.max, rw.cpu, rw.ccpu, rw.errors)
		}
	}
	fmt.Fprintf(w, "\n| op | calls/s gsskit/ref | p50 gsskit/ref | p99 gsskit/ref | CPU/call gsskit/ref | goals: CPU <= 1/4, p99 < 20 ms, calls/s >= ref |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---|\n")
	for _, op := range o.ops {
		g, okG := rows[key{"gsskit", op}]
		r, okR := rows[key{"reference", op}]
		if !okG || !okR {
			fmt.Fprintf(w, "| %s | - | - | - | - | not measured on both daemons |\n", op)
			continue
		}
		verdict := func(ok bool) string {
			if ok {
				return "met"
			}
			return "NOT met"
		}
		goals := fmt.Sprintf("CPU %s, p99 %s, calls/s %s",
			verdict(g.cpu <= r.cpu/4), verdict(g.p99 < 20), verdict(g.rate >= r.rate))
		if g.errors > 0 || r.errors > 0 {
			goals += fmt.Sprintf(" (errors: gsskit %d, reference %d)", g.errors, r.errors)
		}
		fmt.Fprintf(w, "| %s | %.2fx | %.3fx | %.4fx | %.3fx | %s |\n", op,
			g.rate/r.rate, g.p50/r.p50, g.p99/r.p99, g.cpu/r.cpu, goals)
	}
}
