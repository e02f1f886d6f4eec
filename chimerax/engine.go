package chimerax

import "github.com/chimerad/chimerad/chimerax/engine"

// The program that runs sessions (chimerax/engine), under the names the
// supervisor's callers know.
type Engine = engine.Engine

// Engine names, as the API and the session records show them.
const (
	EngineChimeraX  = engine.ChimeraX
	EngineSimulator = engine.Simulator
)

// FindEngine decides which program runs sessions: see engine.Find.
var FindEngine = engine.Find

// SimulatorCommand is the hidden subcommand that runs the simulator;
// RESTCommand the start-up command that starts ChimeraX's REST server.
const (
	SimulatorCommand = engine.SimulatorCommand
	RESTCommand      = engine.RESTCommand
)
