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
	path, done, err := socketAddr(dir, name)
	if err != nil {
		return nil, err
	}
	defer done()
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}

// socketAddr is the address of the Unix socket name in dir: its path, or
// where that is too long for a socket address (107 bytes), the path
// through the directory's descriptor in /proc, valid until done.
func socketAddr(dir, name string) (addr string, done func(), err error) {
	path := filepath.Join(dir, name)
	if len(path) < 100 {
		return path, func() {}, nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", f.Fd(), name), func() { f.Close() }, nil
}
