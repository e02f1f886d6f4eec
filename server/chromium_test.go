//go:build linux

package server_test

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// mustBrowser starts Debian's headless chromium, driven through the
// DevTools protocol (chromedp), and returns a tab's context; at cleanup the
// browser and every process it started are killed. It skips the test when
// chromium is not installed (.ci/run installs it). Chromium reaches nothing
// but loopback: its background networking is off.
func mustBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not installed (apt-get install chromium): %v", chromiumPath, err)
	}
	if testing.Short() {
		t.Skip("starts a browser")
	}
	var pgid int
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// Its own process group, so that cleanup kills the wrapper script,
		// the browser and its renderer, GPU and utility processes at once.
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			if cmd.SysProcAttr == nil {
				cmd.SysProcAttr = &syscall.SysProcAttr{}
			}
			cmd.SysProcAttr.Setpgid = true
		}),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTime := context.WithTimeout(ctx, 2*time.Minute)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancelTime()
		cancelTab()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	if p := chromedp.FromContext(ctx).Browser.Process(); p != nil {
		pgid = p.Pid
	}
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
		if pgid > 0 {
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
	})
	return ctx
}
