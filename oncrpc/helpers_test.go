package oncrpc

import (
	"io"
	"log/slog"
)

// quietLogger keeps expected server diagnostics (a test's deliberate panic)
// out of the test output.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
