package structure

import "errors"

// Errors of structure files in. The chimerax package re-exports each, so
// that callers match the supervisor's errors as chimerax.Err*.
var (
	// ErrInvalid: the request is malformed (a bad PDB id, a bad file name).
	ErrInvalid = errors.New("chimerax: invalid request")
	// ErrUnsupportedFormat: an upload is not a structure format ChimeraX opens here.
	ErrUnsupportedFormat = errors.New("chimerax: unsupported structure format")
	// ErrTooLarge: an upload, or what it decompresses to, is over its limit.
	ErrTooLarge = errors.New("chimerax: structure too large")
	// ErrPDBNotFound: the mirrors say the entry does not exist.
	ErrPDBNotFound = errors.New("chimerax: PDB entry not found")
	// ErrPDBUnavailable: no mirror gave a usable answer.
	ErrPDBUnavailable = errors.New("chimerax: PDB mirrors unavailable")
)
