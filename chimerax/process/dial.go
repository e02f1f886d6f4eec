package process

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// dialUnix dials the Unix socket name in dir. A path too long for a Unix
// socket address (107 bytes) is reached through the directory's descriptor
// in /proc, so data dirs may be deep.
func dialUnix(ctx context.Context, dir, name string) (net.Conn, error) {
	var d net.Dialer
	path := filepath.Join(dir, name)
	if len(path) >= 100 {
		f, err := os.Open(dir)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		path = fmt.Sprintf("/proc/self/fd/%d/%s", f.Fd(), name)
	}
	return d.DialContext(ctx, "unix", path)
}
