package slurm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// roleEnv makes the test binary play the node agent or a stand-in for
// ChimeraX (as src/os/exec's tests do), so that the agent is tested as
// the separate process it is in a job.
const roleEnv = "SLURM_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "agent":
		os.Exit(AgentMain(os.Args[1:], os.Stderr))
	case "chimerax":
		os.Exit(fakeChimeraX())
	}
	os.Exit(m.Run())
}

// fakeChimeraX serves ChimeraX's REST on loopback, says so as ChimeraX
// does, and exits on `exit` or at the end of its input.
func fakeChimeraX() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 1
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ran %s", r.URL.Query().Get("command"))
	}))
	fmt.Printf("REST server started on host 127.0.0.1 port %d\n", ln.Addr().(*net.TCPAddr).Port)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "exit" {
			return 0
		}
	}
	return 3 // end of input: a batch job's stdin would end ChimeraX at once
}

func TestCheckExtraArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"--qos=interactive", "--gres=gpu:1", "--exclusive"}, true},
		{[]string{"-q", "x"}, false},
		{[]string{"--job-name=x"}, false},
		{[]string{"--chdir=/"}, false},
		{[]string{"--wrap=rm -rf /"}, false},
		{[]string{"--comment=a\nb"}, false},
		{[]string{"--"}, false},
		{[]string{"qos"}, false},
	} {
		if err := CheckExtraArgs(tc.args); (err == nil) != tc.ok {
			t.Errorf("CheckExtraArgs(%q) = %v, want ok %v", tc.args, err, tc.ok)
		}
	}
}

// TestScriptQuotes: the batch script passes every argument as it is, a
// quote or a dollar in a path included.
func TestScriptQuotes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sh")
	}
	dir := filepath.Join(t.TempDir(), `it's $HOME "here"`)
	spec := Spec{SessionID: "s1", Dir: dir, Agent: []string{"printf", `%s\n`}, Command: []string{"/opt/Chimera X/bin/ChimeraX", "--nogui", "--cmd", "remotecontrol rest start port 0"},
		Env: []string{"A=b c"}, OrphanAfter: time.Minute}
	out, err := exec.Command("sh", "-c", script(spec)).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--dir", dir, "--orphan-after", "1m0s", "--env", "A=b c", "--", "/opt/Chimera X/bin/ChimeraX", "--nogui", "--cmd", "remotecontrol rest start port 0"}
	if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("the script passes %q, want %q", got, want)
	}
}

func TestJobStatusEnd(t *testing.T) {
	for state, want := range map[string]string{
		"CANCELLED": EndCancelled, "TIMEOUT": EndTimeLimit, "DEADLINE": EndTimeLimit,
		"FAILED": EndFailed, "NODE_FAIL": EndFailed, "PREEMPTED": EndFailed, "OUT_OF_MEMORY": EndFailed,
		"COMPLETED": EndCompleted,
	} {
		st := JobStatus{State: state}
		if got := st.End(); got != want || st.Active() {
			t.Errorf("%s: End() = %q, Active() = %v; want %q, false", state, got, st.Active(), want)
		}
	}
	for _, state := range []string{"PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED"} {
		if !(JobStatus{State: state}).Active() {
			t.Errorf("%s is not active", state)
		}
	}
	if got := (JobStatus{State: "PENDING", Reason: "Resources"}).Describe(); got != "PENDING (Resources)" {
		t.Errorf("Describe() = %q", got)
	}
}

// TestHandshake: each side proves it knows the session's key, and a side
// that does not is refused by the other.
func TestHandshake(t *testing.T) {
	key, other := []byte(strings.Repeat("k", 32)), []byte(strings.Repeat("x", 32))
	run := func(agentKey, daemonKey []byte) (op string, serverErr, clientErr error) {
		a, d := net.Pipe()
		defer a.Close()
		defer d.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			op, serverErr = serverHandshake(a, agentKey)
			a.Close()
		}()
		clientErr = clientHandshake(d, daemonKey, "rest")
		d.Close()
		<-done
		return op, serverErr, clientErr
	}
	if op, serr, cerr := run(key, key); op != "rest" || serr != nil || cerr != nil {
		t.Errorf("same key: op %q, agent %v, daemon %v", op, serr, cerr)
	}
	if op, serr, cerr := run(key, other); op != "" || serr == nil || cerr == nil {
		t.Errorf("a daemon without the key: op %q, agent %v, daemon %v; want both to fail", op, serr, cerr)
	}

	// An impostor agent that accepts any daemon cannot prove the key.
	a, d := net.Pipe()
	defer a.Close()
	go func() {
		fmt.Fprintf(a, "%s %s\n", greeting, nonce())
		readLine(a)
		fmt.Fprintf(a, "%s\n", strings.Repeat("0", 64))
		io.Copy(io.Discard, a)
	}()
	if err := clientHandshake(d, key, "rest"); err == nil || !strings.Contains(err.Error(), "does not know the session's key") {
		t.Errorf("an impostor agent: %v, want refused", err)
	}
	d.Close()
}

// TestAgent runs the node agent as a job would, with a stand-in for
// ChimeraX: it publishes its address once ChimeraX listens, relays REST
// for a daemon with the session's key and for no one else, holds
// ChimeraX's stdin open, and reports its exit on the control stream.
func TestAgent(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the agent runs on Slurm nodes")
	}
	dir := t.TempDir()
	if _, err := NewKey(dir); err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	agent := exec.Command(self, "--dir", dir, "--listen", "127.0.0.1:0", "--env", roleEnv+"=chimerax", "--", self)
	agent.Env = append(os.Environ(), roleEnv+"=agent")
	logf, _ := os.Create(filepath.Join(dir, agentLog))
	agent.Stdin, agent.Stdout, agent.Stderr = nil, logf, logf // stdin /dev/null, as in a batch job
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = agent.Wait(); close(exited) }()
	t.Cleanup(func() {
		agent.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := readAgentInfo(dir); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, agentLog))
			t.Fatalf("no %s after 20s; agent log: %s", AgentFile, b)
		}
		time.Sleep(10 * time.Millisecond)
	}

	j, err := (&Cluster{}).Adopt(dir, "1", "s1")
	if err != nil {
		t.Fatal(err)
	}
	client := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return j.Dial(ctx) }}}
	resp, err := client.Get("http://chimerax/run?command=version")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ran version" {
		t.Errorf("through the agent: %q, want %q", body, "ran version")
	}

	intruder := &Job{info: j.info, key: []byte(strings.Repeat("z", 32))}
	if conn, err := intruder.Dial(context.Background()); err == nil {
		conn.Close()
		t.Errorf("a client without the session's key reached ChimeraX")
	}

	j.send("write", "exit\n")
	if !j.WaitDone(10 * time.Second) {
		t.Fatal("ChimeraX did not exit on `exit`")
	}
	if code, sig := j.ExitStatus(); code == nil || *code != 0 || sig != "" {
		t.Errorf("exit status %v %q, want exit code 0 (its stdin was held open)", code, sig)
	}
	j.Detach()
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("agent: %v", waitErr)
		}
	case <-time.After(10 * time.Second):
		t.Error("the agent did not exit after ChimeraX")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, agentLog)); !strings.Contains(string(b), "refused a connection") {
		t.Errorf("the agent's log does not note the refused client:\n%s", b)
	}
}
