package chimerax

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
)

// The warm pool: Config.PoolSize children kept started and REST-ready, so
// that a create only has to open its structure. A pool child is started
// exactly like a session's (same sandbox, shim and environment), under a
// session id and directory chosen in advance, sessions/<id>/, but with no
// record and no owner. A create that takes one uses that id for its
// record: the uploaded file is moved into the directory only then, so a
// pool child never sees a user's data before it is handed out.
//
// Pool children count against MaxSessions (ready or starting) but not
// against any user. They are recycled after PoolMaxAge by the sweeper,
// killed at Close, and, having no record, killed and removed by the next
// daemon's Reconcile if this one dies (FindChildren finds them by their
// working directory and session id, like any unrecorded child).

// pool is the supervisor's warm children; guarded by Supervisor.mu.
type pool struct {
	ready    []*warmChild
	starting int
	// yield counts the starting children whose places sessions have taken
	// (placeLocked): as many are discarded when they are ready.
	yield  int
	ctx    context.Context // ends when Close begins
	cancel context.CancelFunc
}

// warmChild is one started child waiting in the pool.
type warmChild struct {
	id     string
	proc   runner
	client *Client
	born   time.Time
	out    chan struct{} // closed when it leaves the pool (taken, recycled, closed)
}

// count is how many places the pool holds under MaxSessions.
func (p *pool) count() int { return len(p.ready) + p.starting - p.yield }

// takeWarm hands out a live pool child, or nil. The caller holds sv.mu.
func (sv *Supervisor) takeWarm() *warmChild {
	for len(sv.pool.ready) > 0 {
		w := sv.pool.ready[0]
		sv.pool.ready = sv.pool.ready[1:]
		close(w.out)
		select {
		case <-w.proc.Done(): // died just now
			sv.wg.Add(1)
			go func() {
				defer sv.wg.Done()
				w.proc.ReapAll()
				os.RemoveAll(sv.sessionDir(w.id))
			}()
			continue
		default:
			return w
		}
	}
	return nil
}

// openPool starts the pool; Open calls it.
func (sv *Supervisor) openPool() {
	sv.pool.ctx, sv.pool.cancel = context.WithCancel(sv.ctx)
	sv.refillPool()
}

// refillPool starts children until the pool is full, within MaxSessions.
func (sv *Supervisor) refillPool() {
	if sv.cfg.PoolSize <= 0 || sv.pool.ctx == nil {
		return
	}
	n := 0
	sv.mu.Lock()
	// Only below the cap, and never ahead of a queued create.
	for !sv.closing && len(sv.queue) == 0 && sv.pool.count() < sv.cfg.PoolSize &&
		(sv.cfg.MaxSessions <= 0 || len(sv.children)+sv.pool.count() < sv.cfg.MaxSessions) {
		sv.pool.starting++
		n++
	}
	sv.mu.Unlock()
	for range n {
		sv.wg.Add(1)
		go func() {
			defer sv.wg.Done()
			sv.startWarm()
		}()
	}
}

// startWarm starts one pool child and adds it to the pool.
func (sv *Supervisor) startWarm() {
	id := uuid.NewString()
	dir := sv.sessionDir(id)
	log := sv.Logger.With().Str("session_id", id).Logger()
	p, err := sv.launchWarm(id, dir)
	var w *warmChild
	if err == nil {
		w = &warmChild{id: id, proc: p, client: NewClient(p.Dial), born: sv.now(), out: make(chan struct{})}
		// One round trip, so that the child is known to answer and the
		// create that takes it finds a connection already open.
		ctx, cancel := context.WithTimeout(sv.pool.ctx, sv.cfg.StartTimeout)
		_, err = w.client.Run(ctx, "version")
		cancel()
		if err != nil {
			p.Kill()
		}
	}
	sv.mu.Lock()
	sv.pool.starting--
	yielded := sv.pool.yield > 0 // its place went to a session meanwhile
	if yielded {
		sv.pool.yield--
	}
	keep := err == nil && !sv.closing && !yielded
	if keep {
		sv.pool.ready = append(sv.pool.ready, w)
		sv.grantLocked() // a queued create takes it at once
	}
	sv.mu.Unlock()
	if !keep {
		if err != nil {
			// No retry now: a broken engine would start children in a loop.
			// The next sweeper tick refills.
			log.Warn().Err(err).Msg("pool child start failed")
		} else {
			p.Kill()
		}
		os.RemoveAll(dir)
		return
	}
	log.Debug().Int("pid", p.PID()).Msg("pool child ready")
	sv.wg.Add(1)
	go func() {
		defer sv.wg.Done()
		sv.watchWarm(w)
	}()
}

func (sv *Supervisor) launchWarm(id, dir string) (runner, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return sv.launch(sv.pool.ctx, id, nil)
}

// watchWarm removes a pool child that dies while it waits.
func (sv *Supervisor) watchWarm(w *warmChild) {
	select {
	case <-w.out:
		return
	case <-w.proc.Done():
	}
	sv.mu.Lock()
	i := -1
	for j, r := range sv.pool.ready {
		if r == w {
			i = j
		}
	}
	if i >= 0 {
		sv.pool.ready = append(sv.pool.ready[:i], sv.pool.ready[i+1:]...)
		close(w.out)
		sv.grantLocked()
	}
	sv.mu.Unlock()
	if i < 0 {
		return // taken or retired: whoever did handles it
	}
	sv.Logger.Warn().Str("session_id", w.id).Int("pid", w.proc.PID()).Msg("pool child exited: " + w.proc.DescribeExit())
	w.proc.ReapAll()
	os.RemoveAll(sv.sessionDir(w.id))
}

// recyclePool retires pool children older than PoolMaxAge and refills;
// the sweeper calls it on every tick.
func (sv *Supervisor) recyclePool(now time.Time) {
	if sv.cfg.PoolSize <= 0 {
		return
	}
	var old []*warmChild
	sv.mu.Lock()
	if sv.cfg.PoolMaxAge > 0 {
		keep := sv.pool.ready[:0]
		for _, w := range sv.pool.ready {
			if now.Sub(w.born) >= sv.cfg.PoolMaxAge {
				close(w.out)
				old = append(old, w)
			} else {
				keep = append(keep, w)
			}
		}
		clear(sv.pool.ready[len(keep):])
		sv.pool.ready = keep
		sv.grantLocked()
	}
	sv.mu.Unlock()
	sv.retireWarm(old)
	sv.refillPool()
}

// retireWarm stops pool children that have left the pool, and waits.
func (sv *Supervisor) retireWarm(ws []*warmChild) {
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			w.proc.Kill() // it holds nothing of anyone's
			os.RemoveAll(sv.sessionDir(w.id))
		})
	}
	wg.Wait()
}

// closePool stops the pool's starts and children; Close calls it.
func (sv *Supervisor) closePool() {
	if sv.pool.cancel == nil {
		return
	}
	sv.pool.cancel()
	sv.mu.Lock()
	ws := sv.pool.ready
	sv.pool.ready = nil
	for _, w := range ws {
		close(w.out)
	}
	sv.mu.Unlock()
	sv.retireWarm(ws)
}

// PoolReady returns how many pool children are ready to be taken.
func (sv *Supervisor) PoolReady() int {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return len(sv.pool.ready)
}
