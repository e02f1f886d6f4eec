//go:build linux

package chimerax_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// inVM marks the test binary running inside TestCgroupVM's VM.
const inVM = "CHIMERAD_TEST_IN_VM"

// vmTests are the tests TestCgroupVM runs inside the VM. (TestMemoryLimit,
// whose child touches 3 GiB under an address-space limit, is slow under
// emulation and needs no cgroup.)
const vmTests = "^(TestCgroup.*|TestSandbox.*)$"

// TestCgroupVM runs the cgroup tests where a cgroup v2 offers the memory
// and cpu controllers, which our machines keep on cgroup v1 (there
// TestCgroupOutOfMemory skips and the others take the fallbacks): in a
// throw-away Linux VM, a kernel under qemu with a busybox initramfs that
// mounts cgroup2 as systemd would and enables +memory +cpu, running a
// static build of this package's cgroup and sandbox tests. It needs qemu-system-x86_64, a
// kernel (/boot/vmlinuz-*, or $CHIMERAD_VM_KERNEL) and /bin/busybox from
// busybox-static; .ci/run installs them.
func TestCgroupVM(t *testing.T) {
	if os.Getenv(inVM) != "" {
		t.Skip("inside the VM already")
	}
	if testing.Short() {
		t.Skip("boots a VM")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	if k := os.Getenv("CHIMERAD_VM_KERNEL"); k != "" {
		kernels = []string{k}
	}
	_, bbErr := os.Stat("/bin/busybox")
	if err != nil || len(kernels) == 0 || bbErr != nil {
		t.Skip("needs qemu-system-x86_64, a kernel in /boot and /bin/busybox (busybox-static); .ci/run installs them")
	}
	slices.Sort(kernels)
	kernel := kernels[len(kernels)-1]

	root := t.TempDir()
	testBin := "/work/chimerax/chimerax.test"
	build := exec.Command("go", "test", "-c", "-o", filepath.Join(root, testBin), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a static test binary: %v\n%s", err, out)
	}
	if err := os.CopyFS(filepath.Join(root, "work", "testdata"), os.DirFS(filepath.Join("..", "testdata"))); err != nil {
		t.Fatal(err)
	}
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin %s=1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "+memory +cpu" >/sys/fs/cgroup/cgroup.subtree_control
echo "cgroup v2 controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
ip link set lo up
cd /work/chimerax
%s -test.run '%s' -test.v -test.count=1 -test.timeout 10m
echo "chimerad-vm-exit=$?"
poweroff -f
`, inVM, testBin, vmTests)
	for name, content := range map[string][]byte{"bin/busybox": busybox, "init": []byte(script)} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(root, name), content, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"proc", "sys", "dev", "tmp"} {
		os.Mkdir(filepath.Join(root, d), 0o755)
	}
	initrd := filepath.Join(t.TempDir(), "initrd.gz")
	if err := writeInitramfs(initrd, root); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	vm := exec.CommandContext(ctx, qemu, "-m", "2048", "-smp", "2", "-nographic", "-no-reboot",
		"-kernel", kernel, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 quiet rdinit=/init")
	var out bytes.Buffer
	vm.Stdout, vm.Stderr = &out, &out
	start := time.Now()
	err = vm.Run()
	log := strings.ReplaceAll(out.String(), "\r", "")
	var results []string
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "--- ") || strings.Contains(l, "cgroup v2 controllers:") {
			results = append(results, l)
		}
	}
	t.Logf("%s booted in qemu, %v:\n%s", filepath.Base(kernel), time.Since(start).Round(time.Second), strings.Join(results, "\n"))
	if err != nil || !strings.Contains(log, "chimerad-vm-exit=0") {
		t.Fatalf("tests in the VM failed (qemu: %v):\n%s", err, lastLines(log, 80))
	}
	// The point of the VM: the memory controller was there, so the kernel's
	// OOM kill under memory.max was exercised, not skipped.
	if !strings.Contains(log, "--- PASS: TestCgroupOutOfMemory") {
		t.Errorf("TestCgroupOutOfMemory did not run and pass in the VM:\n%s", lastLines(log, 80))
	}
}

// writeInitramfs writes the tree under root as a gzip'd newc cpio archive,
// the format the kernel unpacks as its initial root file system.
func writeInitramfs(path, root string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	ino := 0
	entry := func(name string, mode uint32, data []byte) {
		ino++
		fmt.Fprintf(zw, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		io.WriteString(zw, name+"\x00")
		zw.Write(make([]byte, (4-(110+len(name)+1)%4)%4))
		zw.Write(data)
		zw.Write(make([]byte, (4-len(data)%4)%4))
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		name, _ := filepath.Rel(root, p)
		if d.IsDir() {
			entry(name, 0o040755, nil)
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		entry(name, 0o100755, data)
		return nil
	})
	if err != nil {
		return err
	}
	entry("TRAILER!!!", 0, nil)
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
