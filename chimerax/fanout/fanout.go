// Package fanout delivers a stream of values to many subscribers, in order,
// without ever waiting for one: a subscriber that falls more than its
// buffer behind is dropped (its channel closed) and may subscribe again. It
// numbers the values from 1 and keeps the last of them, so that a
// subscriber that comes back after an id gets what it missed, or learns
// that it cannot (Reset). It imports nothing of this module.
package fanout

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Topic is one stream of values of type T and its subscribers.
type Topic[T any] struct {
	buffer, keep int
	setID        func(*T, uint64) // stamps each value with its id
	onEmpty      func()           // the last subscriber left

	mu      sync.Mutex
	subs    map[chan T]struct{}
	closed  bool
	seq     uint64 // the last value's id
	history []T    // the last keep values: a ring once full, oldest at start
	start   int    // the oldest value's index in a full history
	readers atomic.Int32
}

// New returns a topic whose subscribers may fall buffer values behind, that
// keeps the last keep values for subscribers that come back, stamps each
// value with its id through setID, and calls onEmpty (on a goroutine of its
// own) whenever the last subscriber leaves.
func New[T any](buffer, keep int, setID func(*T, uint64), onEmpty func()) *Topic[T] {
	return &Topic[T]{buffer: buffer, keep: keep, setID: setID, onEmpty: onEmpty, subs: make(map[chan T]struct{})}
}

// Subscription is a subscriber's view of a topic.
type Subscription[T any] struct {
	// Replay are the values after the id the subscriber last saw, to take
	// before those on C.
	Replay []T
	// Reset: the values kept no longer reach back to that id, or it is not
	// one of this topic's: the subscriber missed some.
	Reset bool
	// C delivers the values from now on, and is closed when the topic
	// closes, on Cancel, or when the subscriber falls behind.
	C <-chan T
	// Cancel ends the subscription.
	Cancel func()
}

// Subscribe subscribes to the values after id after (0: from now on). It
// reports false if the topic has closed.
func (t *Topic[T]) Subscribe(after uint64) (Subscription[T], bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return Subscription[T]{}, false
	}
	var sub Subscription[T]
	if after > 0 {
		oldest := t.seq + 1 - uint64(len(t.history))
		if after > t.seq || after+1 < oldest {
			sub.Reset = true
		} else {
			ordered := append(slices.Clone(t.history[t.start:]), t.history[:t.start]...)
			sub.Replay = ordered[len(ordered)-int(t.seq-after):]
		}
	}
	ch := make(chan T, t.buffer)
	t.subs[ch] = struct{}{}
	t.readers.Add(1)
	sub.C = ch
	sub.Cancel = func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.drop(ch)
	}
	return sub, true
}

// drop ends a subscription, if it has not ended; t.mu is held.
func (t *Topic[T]) drop(ch chan T) {
	if _, ok := t.subs[ch]; !ok {
		return
	}
	delete(t.subs, ch)
	close(ch)
	if t.readers.Add(-1) == 0 && t.onEmpty != nil {
		go t.onEmpty()
	}
}

// Publish numbers v, keeps it, and sends it to every subscriber that has
// room; one that has none is dropped. It returns v's id (0 once closed).
func (t *Topic[T]) Publish(v T) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0
	}
	t.seq++
	t.setID(&v, t.seq)
	// A ring: shifting a full history of keep values on every publish
	// cost a copy of all of them (three publishes a command).
	if len(t.history) < t.keep {
		t.history = append(t.history, v)
	} else if t.keep > 0 {
		t.history[t.start] = v
		t.start = (t.start + 1) % t.keep
	}
	for ch := range t.subs {
		select {
		case ch <- v:
		default:
			t.drop(ch)
		}
	}
	return t.seq
}

// Close publishes final, if given, then ends every subscription; later
// ones are refused.
func (t *Topic[T]) Close(final *T) {
	if final != nil {
		t.Publish(*final)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for ch := range t.subs {
		delete(t.subs, ch)
		close(ch)
	}
	t.closed = true
	t.readers.Store(0)
}

// Readers counts the subscribers; safe without the topic's lock.
func (t *Topic[T]) Readers() int { return int(t.readers.Load()) }
