package fanout

import (
	"testing"
	"time"
)

type item struct {
	id uint64
	v  string
}

func newTopic(onEmpty func()) *Topic[item] {
	return New(2, 3, func(it *item, id uint64) { it.id = id }, onEmpty)
}

// TestReplay: a subscriber that comes back after an id gets the values it
// missed, in order; one whose id the kept values no longer reach, or that
// is not one of the topic's, gets Reset.
func TestReplay(t *testing.T) {
	tp := newTopic(nil)
	for _, v := range []string{"a", "b", "c", "d"} {
		tp.Publish(item{v: v})
	}
	for after, want := range map[uint64]string{4: "", 3: "d", 2: "cd", 1: "bcd"} {
		sub, ok := tp.Subscribe(after)
		got := ""
		for _, it := range sub.Replay {
			got += it.v
		}
		if !ok || sub.Reset || got != want {
			t.Errorf("Subscribe(%d) = replay %q reset %v, want %q", after, got, sub.Reset, want)
		}
		sub.Cancel()
	}
	for _, after := range []uint64{5, 0 + 0} {
		if sub, _ := tp.Subscribe(after); after > 0 && !sub.Reset {
			t.Errorf("Subscribe(%d) past the last id: no Reset", after)
		}
	}
	tp.Publish(item{v: "e"}) // keeps c, d, e: 1 and 2 are gone
	if sub, _ := tp.Subscribe(1); !sub.Reset {
		t.Error("Subscribe(1) with 2 no longer kept: no Reset")
	}
}

// TestSlowSubscriberDropped: a subscriber that falls more than its buffer
// behind is dropped, others go on, and the last one leaving is told.
func TestSlowSubscriberDropped(t *testing.T) {
	empty := make(chan struct{}, 1)
	tp := newTopic(func() { empty <- struct{}{} })
	slow, _ := tp.Subscribe(0)
	fast, _ := tp.Subscribe(0)
	for i := range 3 {
		tp.Publish(item{v: string(rune('a' + i))})
		<-fast.C
	}
	n := 0
	for range slow.C {
		n++
	}
	if n != 2 {
		t.Errorf("the slow subscriber got %d values before it was dropped, want its buffer's 2", n)
	}
	if tp.Readers() != 1 {
		t.Errorf("Readers = %d, want 1", tp.Readers())
	}
	fast.Cancel()
	select {
	case <-empty:
	case <-time.After(5 * time.Second):
		t.Fatal("onEmpty not called when the last subscriber left")
	}
	tp.Close(&item{v: "end"})
	if _, ok := tp.Subscribe(0); ok {
		t.Error("Subscribe after Close succeeded")
	}
}

// TestReplayAfterManyWraps: the kept values are a ring; after it has
// wrapped many times a replay is still the last values, in order.
func TestReplayAfterManyWraps(t *testing.T) {
	tp := newTopic(nil) // keeps 3
	for i := range 100 {
		tp.Publish(item{v: string(rune('a' + i%26))})
		if i < 3 {
			continue
		}
		seq := uint64(i + 1)
		for back := uint64(0); back <= 3; back++ {
			sub, _ := tp.Subscribe(seq - back)
			got := ""
			for _, it := range sub.Replay {
				got += it.v
			}
			want := ""
			for j := seq - back; j < seq; j++ {
				want += string(rune('a' + int(j)%26))
			}
			if sub.Reset || got != want {
				t.Fatalf("after %d published, Subscribe(%d) = %q reset %v, want %q", seq, seq-back, got, sub.Reset, want)
			}
			for k, it := range sub.Replay {
				if it.id != seq-back+1+uint64(k) {
					t.Fatalf("replayed ids %v, want from %d", sub.Replay, seq-back+1)
				}
			}
			sub.Cancel()
		}
	}
}
