package proxyd

import "time"

// SetProcNFSDRetry shortens the use-gss-proxy retry for a test and returns
// a function that restores it.
func SetProcNFSDRetry(d time.Duration) (restore func()) {
	old := procNFSDRetry
	procNFSDRetry = d
	return func() { procNFSDRetry = old }
}
