package process

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// TestAwaitExit: awaitExit returns only once the child has exited (it is
// a zombie then, not yet reaped), and the Wait after it gets the status.
func TestAwaitExit(t *testing.T) {
	cmd := exec.Command("sh", "-c", "read x; exit 3")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	returned := make(chan struct{})
	go func() {
		awaitExit(cmd.Process.Pid)
		close(returned)
	}()
	stdin.Write([]byte("go\n")) // the child exits now
	<-returned
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if _, rest, _ := bytes.Cut(stat, []byte(") ")); len(rest) == 0 || rest[0] != 'Z' {
		t.Fatalf("awaitExit returned before the child exited: /proc/pid/stat %q", stat)
	}
	if err := cmd.Wait(); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 3 {
		t.Errorf("Wait = %v, exit code %v, want 3", err, cmd.ProcessState)
	}
}
