package proxyd

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// systemd integration: socket activation (sd_listen_fds) and readiness
// notification (sd_notify), both spoken directly, without libsystemd.

// listenFDsStart is SD_LISTEN_FDS_START, the first descriptor passed.
const listenFDsStart = 3

// activated is what the service manager passed this process, taken once:
// the listening sockets by the path they are bound to, and the one passed
// socket that stands for the default socket, if any.
type activated struct {
	byPath map[string]net.Listener
	// dflt is the single passed socket: like the reference, the daemon
	// serves its default socket on it unless a service names its path.
	dflt net.Listener
	// names are the passed sockets' names for messages: LISTEN_FDNAMES
	// with the descriptor, by path.
	names map[string]string
}

var (
	activationOnce sync.Once
	activation     *activated
	activationErr  error
)

// activationListeners returns the passed sockets for cfg's sockets: each
// one bound to a configured path serves that path; a single socket bound
// elsewhere serves the default socket (the reference accepts exactly one
// socket and always treats it so). At start (strict), a socket of several
// passed that no configured path matches is an error, since no one would
// answer on it.
func (d *Daemon) activationListeners(cfg *Config, strict bool) (map[string]net.Listener, error) {
	if d.cfg.NoSocketActivation {
		return nil, nil
	}
	activationOnce.Do(func() { activation, activationErr = takeActivationSockets() })
	if activationErr != nil {
		return nil, activationErr
	}
	if activation == nil {
		return nil, nil
	}
	out := map[string]net.Listener{}
	for _, p := range cfg.Sockets() {
		if l, ok := activation.byPath[filepath.Clean(p)]; ok {
			out[p] = l
		}
	}
	if l := activation.dflt; l != nil && cfg.Socket != "" {
		used := false
		for _, ol := range out {
			used = used || ol == l
		}
		if _, ok := out[cfg.Socket]; !ok && !used {
			out[cfg.Socket] = l
		}
	}
	if strict && activation.dflt == nil {
		var unused []string
		for p, l := range activation.byPath {
			used := false
			for _, ol := range out {
				used = used || ol == l
			}
			if !used {
				unused = append(unused, activation.names[p])
			}
		}
		if len(unused) > 0 {
			sort.Strings(unused)
			return nil, fmt.Errorf("proxyd: systemd passed sockets no service uses: %s", strings.Join(unused, ", "))
		}
	}
	return out, nil
}

// takeActivationSockets implements sd_listen_fds: LISTEN_PID must be this
// process; LISTEN_FDS descriptors from 3 on are the sockets, in the order
// of LISTEN_FDNAMES. The variables are unset so that a child does not take
// the sockets too, and the descriptors are made close-on-exec.
func takeActivationSockets() (*activated, error) {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return nil, nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	var names []string
	if s := os.Getenv("LISTEN_FDNAMES"); s != "" {
		names = strings.Split(s, ":")
	}
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	if err != nil || n <= 0 {
		return nil, nil
	}
	a := &activated{byPath: map[string]net.Listener{}, names: map[string]string{}}
	for i := 0; i < n; i++ {
		fd := listenFDsStart + i
		name := "fd " + strconv.Itoa(fd)
		if i < len(names) && names[i] != "" {
			name = names[i] + " (" + name + ")"
		}
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), name)
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			a.close()
			return nil, fmt.Errorf("proxyd: socket %s passed by systemd: %w", name, err)
		}
		ul, ok := l.(*net.UnixListener)
		if !ok {
			l.Close()
			a.close()
			return nil, fmt.Errorf("proxyd: socket %s passed by systemd is not a Unix stream socket", name)
		}
		// The service manager owns the file: the daemon must not remove
		// it when it stops or drops the socket on a reload.
		ul.SetUnlinkOnClose(false)
		path := ""
		if addr, ok := ul.Addr().(*net.UnixAddr); ok && addr.Name != "" && addr.Name[0] == '/' {
			path = filepath.Clean(addr.Name)
		}
		if path == "" {
			if n == 1 {
				a.dflt = ul
				continue
			}
			ul.Close()
			a.close()
			return nil, fmt.Errorf("proxyd: socket %s passed by systemd is not bound to a file", name)
		}
		a.byPath[path] = ul
		a.names[path] = name + " at " + path
	}
	if n == 1 && a.dflt == nil {
		// One socket: whatever its path, it serves the default socket
		// unless the configuration names that path for a service.
		for _, l := range a.byPath {
			a.dflt = l
		}
	}
	return a, nil
}

func (a *activated) close() {
	for _, l := range a.byPath {
		l.Close()
	}
	if a.dflt != nil {
		a.dflt.Close()
	}
}

// sdNotify sends state to the service manager when it asked for
// notifications (NOTIFY_SOCKET), as sd_notify does; without it, or when
// the message cannot be sent, it does nothing: notification is advisory.
func sdNotify(state string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" || (addr[0] != '/' && addr[0] != '@') {
		return
	}
	// A leading '@' names an abstract socket, which Go's net package
	// understands as such.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte(state))
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, which systemd wants
// with RELOADING=1.
func monotonicUsec() int64 {
	var ts syscall.Timespec
	const clockMonotonic = 1
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return ts.Sec*1_000_000 + ts.Nsec/1000
}
