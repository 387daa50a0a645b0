package proxyrun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// WaitSocket dials path until it accepts a connection, for a daemon started
// as a separate process. An accepted and at once closed connection costs
// the daemon nothing. exited closing means the daemon is gone and waiting
// longer is pointless.
func WaitSocket(ctx context.Context, path string, exited <-chan struct{}) error {
	for {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("the daemon exited before its socket accepted connections")
		case <-ctx.Done():
			return fmt.Errorf("socket %s does not accept connections: %v", path, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
