package chimerax

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chimerad/chimerad/chimerax/fanout"
	"github.com/chimerad/chimerad/store"
)

// The types of Event.
const (
	// EventState: the session changed state (State; Reason and Error once
	// it has ended). The last event of every stream is one.
	EventState = "state"
	// EventCommand: a command ran in the session (Command).
	EventCommand = "command"
	// EventIdleWarning: the session will end for idleness at IdleExpiresAt
	// unless there is activity first. Sent once per idle stretch,
	// Config.IdleWarning before the end.
	EventIdleWarning = "idle_warning"
	// EventCheckpoint: a checkpoint was saved (Checkpoint).
	EventCheckpoint = "checkpoint"
	// EventExecutionState: a ready session went busy (a command started)
	// or idle again (ExecutionState, BusySince).
	EventExecutionState = "execution_state"
)

// Event is something that happened to a live session, as its subscribers
// see it. Only the fields of its Type are set. Events hold no paths, pids
// or ports: they are shown to the session's owner.
type Event struct {
	// ID numbers the session's events from 1, in order; the event stream
	// sends it as the SSE id, and a client that reconnects gives the last
	// it saw to get what it missed (EventsAfter).
	ID        uint64    `json:"-"`
	Type      string    `json:"type"`
	SessionID string    `json:"session_id"`
	Time      time.Time `json:"time,omitzero"`

	State  store.State  `json:"state,omitempty"`
	Reason store.Reason `json:"reason,omitempty"`
	Error  string       `json:"error,omitempty"`

	Command       *CommandEvent    `json:"command,omitempty"`
	IdleExpiresAt time.Time        `json:"idle_expires_at,omitzero"`
	Checkpoint    *CheckpointEvent `json:"checkpoint,omitempty"`

	// ExecutionState is ExecutionIdle or ExecutionBusy; BusySince is when
	// the session went busy.
	ExecutionState string    `json:"execution_state,omitempty"`
	BusySince      time.Time `json:"busy_since,omitzero"`
}

// CommandEvent is a command's outcome as events report it.
type CommandEvent struct {
	// Command is the text sent to ChimeraX (Policy's normalized form, with
	// session paths relative).
	Command string `json:"command"`
	OK      bool   `json:"ok"`
	// Error is what the command raised; a timeout is reported as type
	// "CommandTimeout".
	Error *CommandError `json:"error"`
	// Log is ChimeraX's log of the command; left out (and LogOmitted set)
	// when it is over maxEventLog bytes.
	Log        *Log `json:"log,omitempty"`
	LogOmitted bool `json:"log_omitted,omitempty"`
}

// CheckpointEvent describes a saved checkpoint.
type CheckpointEvent struct {
	At        time.Time `json:"at"`
	SizeBytes int64     `json:"size_bytes"`
}

// maxEventLog bounds the log a command event carries.
const maxEventLog = 16 << 10

// eventBuffer is how many events a subscriber may fall behind by before it
// is dropped.
const eventBuffer = 64

// eventHistory is how many of a session's last events are kept for
// subscribers that reconnect (EventsAfter).
const eventHistory = 256

// StateEvent returns the state event for a session's record, timed by when
// the record entered that state (zero if the record does not say).
func StateEvent(rec store.Session) Event {
	ev := Event{Type: EventState, SessionID: rec.ID, State: rec.State, Reason: rec.TerminationReason, Error: rec.Error}
	switch rec.State {
	case store.StateStarting:
		ev.Time = rec.CreatedAt
	case store.StateReady:
		ev.Time = rec.ReadyAt
	case store.StateTerminated, store.StateFailed:
		ev.Time = rec.TerminatedAt
	}
	return ev
}

// newTopic is a session's event stream: subscribers fall at most
// eventBuffer events behind, the last eventHistory are kept for those that
// reconnect, and the last one leaving may restart the idle clock.
func (sv *Supervisor) newTopic(c *child) *fanout.Topic[Event] {
	return fanout.New(eventBuffer, eventHistory,
		func(ev *Event, id uint64) { ev.ID = id },
		func() { sv.lastReaderLeft(c) })
}

// Events subscribes to a live session's events: state changes, command
// results, idle warnings and checkpoints, in order. The channel is closed
// after the session's final state event, after cancel, or when the
// subscriber falls more than a few dozen events behind (then it should read
// the record and subscribe again). Call cancel when done. A session that
// has ended (or is ending) gives ErrNotLive; a missing one ErrNotFound.
func (sv *Supervisor) Events(ctx context.Context, id string) (<-chan Event, func(), error) {
	sub, err := sv.EventsAfter(ctx, id, 0)
	return sub.C, sub.Cancel, err
}

// Subscription is a subscriber's view of a session's events: Replay the
// events it missed since the id it gave, Reset if the events kept no
// longer reach back to it (it should read the session afresh), C the
// events from now on, Cancel to end it.
type Subscription = fanout.Subscription[Event]

// EventsAfter is Events for a subscriber that saw the session's events up
// to ID after (0: none): it also returns those it missed since, from the
// last eventHistory kept, or says it cannot (Reset).
func (sv *Supervisor) EventsAfter(ctx context.Context, id string, after uint64) (Subscription, error) {
	sv.mu.Lock()
	c := sv.children[id]
	sv.mu.Unlock()
	if c == nil {
		rec, err := sv.current(ctx, id)
		if err != nil {
			return Subscription{}, err
		}
		return Subscription{}, notLive(rec, false)
	}
	sub, ok := c.events.Subscribe(after)
	if !ok {
		return Subscription{}, fmt.Errorf("%w: session %s has ended", ErrNotLive, id)
	}
	return sub, nil
}

// lastReaderLeft notes that the last subscriber of c's events has gone.
// (fanout calls it on a goroutine of its own.)
// With KeepConnected, that restarts the idle clock: the session was not
// idle while it was watched.
func (sv *Supervisor) lastReaderLeft(c *child) {
	if !sv.cfg.KeepConnected {
		return
	}
	sv.mu.Lock()
	if !c.ending {
		sv.markActive(c, sv.now())
	}
	sv.mu.Unlock()
	sv.wakeSweeper()
}

// connected reports whether c has a subscriber that keeps it from being
// idle (Config.KeepConnected).
func (sv *Supervisor) connected(c *child) bool {
	return sv.cfg.KeepConnected && c.events.Readers() > 0
}

// publish sends ev to c's subscribers without waiting: one whose buffer is
// full is dropped (its channel closed).
func (sv *Supervisor) publish(c *child, ev Event) {
	ev.SessionID = c.id
	if ev.Time.IsZero() {
		ev.Time = sv.now()
	}
	c.events.Publish(ev)
}

// publishState tells c's subscribers that the session entered state.
func (sv *Supervisor) publishState(c *child, state store.State) {
	sv.publish(c, Event{Type: EventState, State: state})
}

// endEvents sends the final state event of an ended session (rec, if it
// was recorded) and closes every subscription; later ones are refused.
func (sv *Supervisor) endEvents(c *child, rec store.Session) {
	var final *Event
	if rec.ID != "" && !rec.State.Live() {
		ev := StateEvent(rec)
		ev.SessionID = c.id
		final = &ev
	}
	c.events.Close(final)
}

// publishExecution tells c's subscribers that it went busy (since) or
// idle (since zero).
func (sv *Supervisor) publishExecution(c *child, since time.Time) {
	ev := Event{Type: EventExecutionState, ExecutionState: ExecutionIdle}
	if !since.IsZero() {
		ev.ExecutionState, ev.BusySince, ev.Time = ExecutionBusy, since, since
	}
	sv.publish(c, ev)
}

// publishCommand reports a command's outcome to c's subscribers. cmd and
// res are as the client sees them (paths made relative).
func (sv *Supervisor) publishCommand(c *child, cmd string, res *Result, timeout error) {
	ce := &CommandEvent{Command: cmd}
	switch {
	case timeout != nil:
		ce.Error = &CommandError{Type: "CommandTimeout", Message: timeout.Error()}
	case res != nil:
		ce.OK, ce.Error = res.OK(), res.Error
		if b, err := json.Marshal(res.Log); err == nil && len(b) <= maxEventLog {
			ce.Log = &res.Log
		} else {
			ce.LogOmitted = true
		}
	}
	sv.publish(c, Event{Type: EventCommand, Command: ce})
}
