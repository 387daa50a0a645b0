// Command kafkabench measures gsskit's Kafka gateway on a throwaway MIT
// realm, with an in-process kfake broker behind it:
//
//	go run ./bench/kafkabench [-rounds 9] [-clients 1,16,64] [-auths 2000]
//	                          [-records 50000] [-size 1024] [-kcat 200]
//
// or bench/kafka.sh, which checks the Debian packages first.
//
// Authentications per second. Each client is a goroutine that does what
// kcat (librdkafka 2.0 with Cyrus SASL) does on a new connection, over and
// over: connect to the gateway, ApiVersions v3, SaslHandshake v1, then
// SaslAuthenticate v0 carrying the AP-REQ (mutual authentication), the
// empty response to the AP-REP, and the wrapped layer choice, reading each
// response, and close. The clients share one initiator credential whose
// service ticket is fetched once, as librdkafka's ccache does, so the KDC
// is not in the loop. The figure is completed authentications over the
// span from the first client's start to the last one's end, at each
// concurrency. Client and gateway run in the same process on the same
// CPUs, so this is a floor for the gateway alone. -kcat N also runs N real
// kcat processes (eight at a time, each listing metadata once), whose rate
// is bounded by process start-up and Cyrus SASL initialisation.
//
// Produce throughput. A franz-go producer sends -records records of -size
// bytes to one partition with acks=all, first straight to the kfake broker
// in plaintext, then through the gateway with gsskit's GSSAPI mechanism
// (authentication happens once per connection and is a negligible part of
// the time). Rounds alternate the two orders. The overhead is the direct
// rate over the gateway rate, from each side's median round and from each
// side's best (least disturbed) round; the goal is at most 1.2. Because
// client, gateway and broker share the process, its CPU time per megabyte
// is reported for both paths as well: on a shared machine it measures the
// gateway's work where the wall clock also measures the neighbours.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gsskit/gsskit/gss"
	"github.com/gsskit/gsskit/internal/krbtest"
	"github.com/gsskit/gsskit/kafka"
	_ "github.com/gsskit/gsskit/krb5"
	"github.com/gsskit/gsskit/sasl"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	rounds := flag.Int("rounds", 9, "rounds of each measurement")
	clientsFlag := flag.String("clients", "1,16,64", "concurrent authenticating clients, comma-separated")
	auths := flag.Int("auths", 2000, "authentications per concurrency per round")
	records := flag.Int("records", 50000, "records produced per round and path")
	size := flag.Int("size", 1024, "record value size in bytes")
	kcatRuns := flag.Int("kcat", 200, "real kcat processes per round (0 skips)")
	flag.Parse()
	var clients []int
	for _, s := range strings.Split(*clientsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			log.Fatalf("bad -clients %q", *clientsFlag)
		}
		clients = append(clients, n)
	}
	if err := run(*rounds, clients, *auths, *records, *size, *kcatRuns); err != nil {
		log.Fatal(err)
	}
}

type env struct {
	realm   *krbtest.Realm
	cluster *kfake.Cluster
	gw      *kafka.Gateway
	addr    string
	cred    *gss.Credential
}

func setup(ctx context.Context) (*env, error) {
	realm, err := krbtest.Start(ctx, krbtest.Config{
		Users:    map[string]string{"alice": "bench-alice-pw"},
		Services: []krbtest.Service{{Principal: "kafka/localhost"}},
	})
	if err != nil {
		return nil, err
	}
	for _, kv := range realm.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	// The benchmark measures the exchange, not the replay cache's disk.
	os.Setenv("KRB5RCACHETYPE", "none")
	if err := realm.Kinit(ctx, "alice", ""); err != nil {
		return nil, err
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(1, "bench"))
	if err != nil {
		return nil, err
	}
	f, err := kafka.ParseGatewayFlags([]string{"--listen", "127.0.0.1:0", "--upstream", cluster.ListenAddrs()[0],
		"--keytab", realm.Keytab("kafka/localhost"), "--principal", realm.Principal("kafka/localhost")}, os.Stderr)
	if err != nil {
		return nil, err
	}
	gw, err := kafka.NewGatewayFromFlags(ctx, f, nil)
	if err != nil {
		return nil, err
	}
	if err := gw.Start(ctx); err != nil {
		return nil, err
	}
	cred, err := gss.AcquireCredential(ctx, &gss.CredentialConfig{Usage: gss.CredInitiate, Mechs: gss.OIDSet{gss.MechKrb5}})
	if err != nil {
		return nil, err
	}
	return &env{realm: realm, cluster: cluster, gw: gw, addr: gw.Advertised()[0], cred: cred}, nil
}

func (e *env) close() {
	e.gw.Close()
	e.cluster.Close()
	e.realm.Close()
}

func run(rounds int, clients []int, auths, records, size, kcatRuns int) error {
	ctx := context.Background()
	e, err := setup(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("kafkabench: GOMAXPROCS %d, %d rounds, load average %s", runtime.GOMAXPROCS(0), rounds, load)
	// One untimed authentication fetches and caches the service ticket.
	if err := authenticateOnce(ctx, e, nil); err != nil {
		return fmt.Errorf("warm-up authentication: %w", err)
	}

	authRates, authCPU := map[int][]float64{}, map[int][]float64{}
	var kcatRates, direct, through, directCPU, throughCPU []float64
	for r := 1; r <= rounds; r++ {
		for _, n := range clients {
			rate, cpu, err := authRate(ctx, e, n, auths)
			if err != nil {
				return err
			}
			authRates[n] = append(authRates[n], rate)
			authCPU[n] = append(authCPU[n], cpu*1e6)
			fmt.Printf("round %d: %3d clients: %7.0f authentications/s, %5.0f µs CPU each (client and gateway)\n", r, n, rate, cpu*1e6)
		}
		if kcatRuns > 0 {
			rate, err := kcatRate(ctx, e, kcatRuns, 8)
			if err != nil {
				return err
			}
			kcatRates = append(kcatRates, rate)
			fmt.Printf("round %d: kcat processes, 8 at a time: %.1f authentications/s\n", r, rate)
		}
		order := []bool{false, true}
		if r%2 == 0 {
			order = []bool{true, false}
		}
		for _, viaGateway := range order {
			mbps, cpuPerMB, err := produceRate(ctx, e, viaGateway, records, size)
			if err != nil {
				return err
			}
			name := "direct "
			if viaGateway {
				name = "gateway"
				through, throughCPU = append(through, mbps), append(throughCPU, cpuPerMB)
			} else {
				direct, directCPU = append(direct, mbps), append(directCPU, cpuPerMB)
			}
			fmt.Printf("round %d: produce %s: %7.1f MB/s, %5.2f ms CPU per MB (client, gateway and broker)\n", r, name, mbps, cpuPerMB)
		}
	}
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("\nload average at the end %s", load)
	fmt.Printf("\n%-34s %10s %10s %10s\n", "median of rounds (min, max)", "median", "min", "max")
	for _, n := range clients {
		fmt.Printf("%-34s %10.0f %10.0f %10.0f\n", fmt.Sprintf("authentications/s, %d clients", n), median(authRates[n]), slices.Min(authRates[n]), slices.Max(authRates[n]))
		fmt.Printf("%-34s %10.0f %10.0f %10.0f\n", fmt.Sprintf("  µs CPU per authentication"), median(authCPU[n]), slices.Min(authCPU[n]), slices.Max(authCPU[n]))
	}
	if len(kcatRates) > 0 {
		fmt.Printf("%-34s %10.1f %10.1f %10.1f\n", "authentications/s, kcat processes", median(kcatRates), slices.Min(kcatRates), slices.Max(kcatRates))
	}
	fmt.Printf("%-34s %10.1f %10.1f %10.1f\n", "produce MB/s direct", median(direct), slices.Min(direct), slices.Max(direct))
	fmt.Printf("%-34s %10.1f %10.1f %10.1f\n", "produce MB/s through the gateway", median(through), slices.Min(through), slices.Max(through))
	fmt.Printf("%-34s %10.2f %10.2f %10.2f\n", "produce ms CPU/MB direct", median(directCPU), slices.Min(directCPU), slices.Max(directCPU))
	fmt.Printf("%-34s %10.2f %10.2f %10.2f\n", "produce ms CPU/MB via the gateway", median(throughCPU), slices.Min(throughCPU), slices.Max(throughCPU))
	fmt.Printf("gateway overhead, wall clock (direct MB/s / gateway MB/s), medians: %.2fx, best rounds: %.2fx (goal <= 1.2x)\n",
		median(direct)/median(through), slices.Max(direct)/slices.Max(through))
	fmt.Printf("gateway overhead, CPU (gateway CPU/MB / direct CPU/MB, medians):   %.2fx\n", median(throughCPU)/median(directCPU))
	s := e.gw.Stats()
	fmt.Printf("gateway: %d authentications, %d failures, %d requests forwarded\n", s.Auth.Authentications, s.Auth.Failures, s.Forwarded)
	if s.Auth.Failures != 0 {
		return errors.New("kafkabench: authentications failed")
	}
	return nil
}

// cpuSeconds is this process's user and system CPU time: client, gateway
// and broker all run in it, so on a shared machine it measures the work
// where wall-clock time measures the neighbours.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func authRate(ctx context.Context, e *env, clients, total int) (rate, cpuPerAuth float64, err error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	cpu0 := cpuSeconds()
	start := time.Now()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for next.Add(1) <= int64(total) {
				if err := authenticateOnce(ctx, e, &buf); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuSeconds() - cpu0
	select {
	case err := <-errs:
		return 0, 0, err
	default:
	}
	return float64(total) / elapsed.Seconds(), cpu / float64(total), nil
}

// authenticateOnce is librdkafka 2.0's connection set-up: ApiVersions v3,
// SaslHandshake v1, SaslAuthenticate v0 until done.
func authenticateOnce(ctx context.Context, e *env, bufp *[]byte) error {
	var buf []byte
	if bufp != nil {
		buf = *bufp
		defer func() { *bufp = buf }()
	}
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("rdkafka"))
	corr := int32(0)
	call := func(req kmsg.Request, resp kmsg.Response) error {
		corr++
		buf = f.AppendRequest(buf[:0], req, corr)
		if _, err := c.Write(buf); err != nil {
			return err
		}
		frame, err := kafka.ReadFrame(c, buf[:0], 1<<20)
		if err != nil {
			return err
		}
		_, body, err := kafka.ParseResponse(frame, req.Key(), req.GetVersion())
		if err != nil {
			return err
		}
		resp.SetVersion(req.GetVersion())
		return resp.ReadFrom(body)
	}
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version, av.ClientSoftwareName, av.ClientSoftwareVersion = 3, "librdkafka", "2.0.2"
	if err := call(av, kmsg.NewPtrApiVersionsResponse()); err != nil {
		return err
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "GSSAPI"
	hr := kmsg.NewPtrSASLHandshakeResponse()
	if err := call(hs, hr); err != nil || hr.ErrorCode != 0 {
		return fmt.Errorf("handshake: %v %d", err, hr.ErrorCode)
	}
	cli, err := sasl.NewClient(&sasl.ClientConfig{Service: "kafka", Host: "localhost", Credential: e.cred})
	if err != nil {
		return err
	}
	tok, err := cli.Start(ctx)
	if err != nil {
		return err
	}
	for {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.SASLAuthBytes = tok
		r := kmsg.NewPtrSASLAuthenticateResponse()
		if err := call(req, r); err != nil {
			return err
		}
		if r.ErrorCode != 0 {
			return fmt.Errorf("SaslAuthenticate error %d", r.ErrorCode)
		}
		if cli.Done() {
			return nil
		}
		if tok, _, err = cli.Step(ctx, r.SASLAuthBytes); err != nil {
			return err
		}
	}
}

func kcatRate(ctx context.Context, e *env, runs, parallel int) (float64, error) {
	bin, err := krbtest.LookPath("kcat")
	if err != nil {
		return 0, err
	}
	before := e.gw.Stats().Auth.Authentications
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	start := time.Now()
	for i := 0; i < parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(runs) {
				cmd := exec.CommandContext(ctx, bin, "-b", e.addr, "-L", "-t", "bench",
					"-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=GSSAPI",
					"-X", "sasl.kerberos.service.name=kafka", "-X", "sasl.kerberos.min.time.before.relogin=0")
				if out, err := cmd.CombinedOutput(); err != nil {
					errs <- fmt.Errorf("kcat: %v\n%s", err, out)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	n := e.gw.Stats().Auth.Authentications - before
	return float64(n) / elapsed.Seconds(), nil
}

// produceRate produces to a fresh broker (kfake keeps every record in
// memory), straight or through a fresh gateway in front of it.
func produceRate(ctx context.Context, e *env, viaGateway bool, records, size int) (mbps, cpuPerMB float64, err error) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(1, "bench"))
	if err != nil {
		return 0, 0, err
	}
	defer cluster.Close()
	opts := []kgo.Opt{kgo.DefaultProduceTopic("bench"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(), kgo.ProducerLinger(time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner())}
	if viaGateway {
		f, err := kafka.ParseGatewayFlags([]string{"--listen", "127.0.0.1:0", "--upstream", cluster.ListenAddrs()[0],
			"--keytab", e.realm.Keytab("kafka/localhost"), "--principal", e.realm.Principal("kafka/localhost")}, os.Stderr)
		if err != nil {
			return 0, 0, err
		}
		gw, err := kafka.NewGatewayFromFlags(ctx, f, nil)
		if err != nil {
			return 0, 0, err
		}
		if err := gw.Start(ctx); err != nil {
			return 0, 0, err
		}
		defer gw.Close()
		opts = append(opts, kgo.SeedBrokers(gw.Advertised()[0]), kgo.SASL(kafka.FranzMechanism(&kafka.ClientConfig{Credential: e.cred})))
	} else {
		opts = append(opts, kgo.SeedBrokers(cluster.ListenAddrs()[0]))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	// Connect and authenticate before the clock starts.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm-up")}).FirstErr(); err != nil {
		return 0, 0, err
	}
	value := make([]byte, size)
	var failed atomic.Value
	runtime.GC()
	cpu0 := cpuSeconds()
	start := time.Now()
	for i := 0; i < records; i++ {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Store(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, 0, err
	}
	elapsed := time.Since(start)
	cpu := cpuSeconds() - cpu0
	if err, _ := failed.Load().(error); err != nil {
		return 0, 0, err
	}
	mb := float64(records) * float64(size) / 1e6
	return mb / elapsed.Seconds(), cpu * 1000 / mb, nil
}
