package zmtp

import "context"

// nullHandshake is the NULL mechanism (RFC 23 §2.6.1): each side sends
// READY and reads the other's. It authenticates nobody and is here so a
// socket can talk to peers that use no security at all.
func (c *Conn) nullHandshake(ctx context.Context) error {
	if err := c.writeCommand(c.readyBody()); err != nil {
		return err
	}
	body, err := c.readCommand()
	if err != nil {
		return err
	}
	return c.takeReady(body)
}
