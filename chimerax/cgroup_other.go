//go:build !linux

package chimerax

import (
	"errors"
	"syscall"
)

// Cgroups are Linux's: elsewhere no child gets one.

const (
	CgroupAuto = "auto"
	CgroupOff  = "off"
)

type cgroups struct{ memory, cpu bool }

func openCgroups(mode string, wantMemory, wantCPU bool) (*cgroups, string, error) {
	if mode == CgroupAuto || mode == CgroupOff || mode == "" {
		return nil, "cgroups need Linux", nil
	}
	return nil, "", errors.New("chimerax.cgroup: cgroups need Linux")
}

type sessionCgroup struct{}

func (g *cgroups) create(id string, memoryMax int64, cpuMax float64) (*sessionCgroup, error) {
	return nil, nil
}
func (g *cgroups) enforcesMemory() bool             { return false }
func (g *cgroups) enforcesCPU() bool                { return false }
func (g *cgroups) session(id string) *sessionCgroup { return nil }
func (g *cgroups) sessionIDs() []string             { return nil }

func (cg *sessionCgroup) procAttr(attr *syscall.SysProcAttr) (func(), error) { return func() {}, nil }
func (cg *sessionCgroup) oomKills() int                                      { return 0 }
func (cg *sessionCgroup) destroy()                                           {}
