// Command chimerad is a session server for headless UCSF ChimeraX.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/chimerad/chimerad/cmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()
	err := cmd.NewRootCommand().ExecuteContext(ctx)
	code, silent := cmd.ExitCode(err)
	if !silent {
		fmt.Fprintln(os.Stderr, "chimerad:", err)
	}
	os.Exit(code)
}
