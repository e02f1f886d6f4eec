//go:build !linux

package process

import (
	"errors"
	"syscall"
)

// Cgroups are Linux's: elsewhere no child gets one.

const (
	CgroupAuto = "auto"
	CgroupOff  = "off"
)

// Cgroups is nil everywhere but on Linux.
type Cgroups struct{ dir string }

func OpenCgroups(mode string, wantMemory, wantCPU bool) (*Cgroups, string, error) {
	if mode == CgroupAuto || mode == CgroupOff || mode == "" {
		return nil, "cgroups need Linux", nil
	}
	return nil, "", errors.New("chimerax.cgroup: cgroups need Linux")
}

type sessionCgroup struct{}

func (g *Cgroups) create(id string, memoryMax int64, cpuMax float64) (*sessionCgroup, error) {
	return nil, nil
}
func (g *Cgroups) EnforcesMemory() bool             { return false }
func (g *Cgroups) EnforcesCPU() bool                { return false }
func (g *Cgroups) session(id string) *sessionCgroup { return nil }
func (g *Cgroups) SessionIDs() []string             { return nil }
func (g *Cgroups) Dir() string                      { return "" }
func (g *Cgroups) DestroySession(id string)         {}

func (cg *sessionCgroup) procAttr(attr *syscall.SysProcAttr) (func(), error) { return func() {}, nil }
func (cg *sessionCgroup) oomKills() int                                      { return 0 }
func (cg *sessionCgroup) destroy()                                           {}
