package store

import "bytes"

// prefilter decides from a stored session's JSON, without decoding it,
// whether it can match a filter: listing one user's sessions or the live
// ones among 10,000 records would otherwise decode every record. Records
// are written by json.Marshal, so a field and its value appear exactly as
// "owner":"alice"; user names and states need no escaping, and a quote
// inside another field's value is escaped, so it cannot fake one. A
// record that passes is still decoded and checked in full: this only
// skips records that cannot match.
type prefilter struct {
	owner []byte   // `"owner":"<name>"`, or nil
	state [][]byte // `"state":"<state>"` for each acceptable state, or nil
}

func newPrefilter(f SessionFilter) prefilter {
	var p prefilter
	if f.Owner != "" && ValidateUserName(f.Owner) == nil {
		p.owner = []byte(`"owner":"` + f.Owner + `"`)
	}
	switch {
	case f.State != "" && f.State.Valid():
		p.state = [][]byte{[]byte(`"state":"` + string(f.State) + `"`)}
	case f.Live:
		for _, s := range []State{StateStarting, StateReady, StateStopping} {
			p.state = append(p.state, []byte(`"state":"`+string(s)+`"`))
		}
	}
	return p
}

// mayMatch reports whether the record v can match.
func (p prefilter) mayMatch(v []byte) bool {
	if p.owner != nil && !bytes.Contains(v, p.owner) {
		return false
	}
	if p.state == nil {
		return true
	}
	for _, s := range p.state {
		if bytes.Contains(v, s) {
			return true
		}
	}
	return false
}
