package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chimerad/chimerad/chimerax"
	"github.com/chimerad/chimerad/store"
)

// LoadSource gives the supervisor's load at each scrape;
// *chimerax.Supervisor provides it.
type LoadSource interface {
	Load() chimerax.Load
}

// Metrics are chimerad's Prometheus metrics, on a registry of their own
// (never the global default one). They are a chimerax.Observer: set them
// as the supervisor's Observer, and as Config.Metrics to serve them on
// /metrics and count HTTP requests. No label ever holds a user name or a
// session id.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	created        prometheus.Counter
	ended          *prometheus.CounterVec
	startDuration  prometheus.Histogram
	lifetime       prometheus.Histogram
	commands       *prometheus.CounterVec
	commandSeconds prometheus.Histogram
	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	queueSeconds   *prometheus.HistogramVec
	mcp            *mcpMetrics // mcp_metrics.go
	series         sync.Map    // requestKey → *requestSeries
}

// endReasons and commandOutcomes are the label values known in advance:
// their series exist from the start at 0, so that rate() and increase()
// see the first event.
var (
	endReasons = []store.Reason{
		store.ReasonDeleted, store.ReasonIdleTimeout, store.ReasonMaxLifetime,
		store.ReasonCrashed, store.ReasonUnresponsive, store.ReasonStartFailed,
		store.ReasonOpenFailed, store.ReasonShutdown, store.ReasonDaemonRestart,
		store.ReasonAdminKill, store.ReasonUserRemoved, store.ReasonOutOfMemory,
		store.ReasonClientGone, store.ReasonSchedulerCancelled, store.ReasonSchedulerFailed,
		store.ReasonSchedulerTimeLimit,
	}
	queueOutcomes   = []string{chimerax.QueueGranted, chimerax.QueueTimeout, chimerax.QueueGone, chimerax.QueueFull}
	commandOutcomes = []chimerax.CommandOutcome{
		chimerax.OutcomeOK, chimerax.OutcomeError, chimerax.OutcomeTimeout,
		chimerax.OutcomeCanceled, chimerax.OutcomeFailed,
	}
)

// NewMetrics creates chimerad's metrics and registers them on reg, with
// the Go runtime and process collectors and a collector that reads src at
// each scrape.
func NewMetrics(reg *prometheus.Registry, src LoadSource) (*Metrics, error) {
	m := &Metrics{
		reg: reg,
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chimerad_sessions_created_total",
			Help: "Sessions created (records made; their children started).",
		}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chimerad_sessions_ended_total",
			Help: "Sessions ended, by termination reason.",
		}, []string{"reason"}),
		startDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chimerad_session_start_duration_seconds",
			Help:    "Time from a session's creation to ready (its child listening and its structure open), for sessions that became ready.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120},
		}),
		lifetime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chimerad_session_lifetime_seconds",
			Help:    "Time from a session's creation to its end.",
			Buckets: []float64{1, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200},
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chimerad_commands_total",
			Help: "Commands sent to ChimeraX children, by outcome (ok, error, timeout, canceled, failed).",
		}, []string{"outcome"}),
		commandSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chimerad_command_duration_seconds",
			Help:    "Time ChimeraX children took to answer commands.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chimerad_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		queueSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chimerad_queue_wait_seconds",
			Help:    "Time creates waited in the queue at limits.max_sessions, by outcome (granted, timeout, gone; full: found it full, did not wait).",
			Buckets: []float64{0.01, 0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60},
		}, []string{"outcome"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chimerad_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route template and method.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"route", "method"}),
	}
	for _, r := range endReasons {
		m.ended.WithLabelValues(string(r))
	}
	for _, o := range commandOutcomes {
		m.commands.WithLabelValues(string(o))
	}
	for _, o := range queueOutcomes {
		m.queueSeconds.WithLabelValues(o)
	}
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newLoadCollector(src),
		m.created, m.ended, m.startDuration, m.lifetime,
		m.commands, m.commandSeconds, m.requests, m.requestSeconds, m.queueSeconds,
	}
	m.mcp = newMCPMetrics()
	cs = append(cs, m.mcp.collectors()...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m, nil
}

// Registry returns the registry the metrics are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SessionCreated counts a created session.
func (m *Metrics) SessionCreated() { m.created.Inc() }

// SessionReady observes a start duration.
func (m *Metrics) SessionReady(d time.Duration) { m.startDuration.Observe(d.Seconds()) }

// SessionEnded counts an ended session and observes its lifetime.
func (m *Metrics) SessionEnded(reason store.Reason, lifetime time.Duration) {
	m.ended.WithLabelValues(string(reason)).Inc()
	m.lifetime.Observe(lifetime.Seconds())
}

// CommandDone counts a command by outcome and observes its duration.
func (m *Metrics) CommandDone(outcome chimerax.CommandOutcome, d time.Duration) {
	m.commands.WithLabelValues(string(outcome)).Inc()
	m.commandSeconds.Observe(d.Seconds())
}

// QueueWaited observes how long a create waited in the queue, by outcome.
func (m *Metrics) QueueWaited(outcome string, d time.Duration) {
	m.queueSeconds.WithLabelValues(outcome).Observe(d.Seconds())
}

// request counts one answered HTTP request.
func (m *Metrics) request(route, method string, code int, d time.Duration) {
	k := requestKey{route, method, code}
	v, ok := m.series.Load(k)
	if !ok {
		v, _ = m.series.LoadOrStore(k, &requestSeries{
			count:   m.requests.WithLabelValues(route, method, strconv.Itoa(code)),
			seconds: m.requestSeconds.WithLabelValues(route, method),
		})
	}
	rs := v.(*requestSeries)
	rs.count.Inc()
	rs.seconds.Observe(d.Seconds())
}

// requestKey names the series of one kind of request: route template,
// method (known ones, else OTHER) and status, so few of them exist.
type requestKey struct {
	route, method string
	code          int
}

// requestSeries are the series a kind of request counts in, looked up
// once instead of by their labels on every request.
type requestSeries struct {
	count   prometheus.Counter
	seconds prometheus.Observer
}

// loadCollector turns the supervisor's Load into metrics at each scrape:
// live sessions by state come from the supervisor's in-memory set, never
// from a scan of the store, and /proc is read at most about once a second.
type loadCollector struct {
	src       LoadSource
	sessions  *prometheus.Desc
	limit     *prometheus.Desc
	queued    *prometheus.Desc
	rss       *prometheus.Desc
	cpu       *prometheus.Desc
	lastSweep *prometheus.Desc
}

func newLoadCollector(src LoadSource) *loadCollector {
	return &loadCollector{
		src: src,
		sessions: prometheus.NewDesc("chimerad_sessions",
			"Live sessions, by state (starting, ready, stopping).", []string{"state"}, nil),
		limit: prometheus.NewDesc("chimerad_sessions_limit",
			"Most live sessions allowed (limits.max_sessions); 0 means no limit.", nil, nil),
		queued: prometheus.NewDesc("chimerad_queue_length",
			"Creates waiting for a place at limits.max_sessions.", nil, nil),
		rss: prometheus.NewDesc("chimerad_children_resident_memory_bytes",
			"Resident memory of the live ChimeraX children, summed over each child's process group.", nil, nil),
		cpu: prometheus.NewDesc("chimerad_children_cpu_seconds_total",
			"CPU time of the ChimeraX children this daemon has run, live and ended, with the processes they waited for.", nil, nil),
		lastSweep: prometheus.NewDesc("chimerad_sweeper_last_run_timestamp_seconds",
			"When the idle sweeper last ran, in seconds since the epoch; absent before its first run.", nil, nil),
	}
}

// Describe sends the collector's descriptors.
func (lc *loadCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{lc.sessions, lc.limit, lc.queued, lc.rss, lc.cpu, lc.lastSweep} {
		ch <- d
	}
}

// Collect reads the load once and sends its metrics.
func (lc *loadCollector) Collect(ch chan<- prometheus.Metric) {
	l := lc.src.Load()
	for _, st := range []store.State{store.StateStarting, store.StateReady, store.StateStopping} {
		ch <- prometheus.MustNewConstMetric(lc.sessions, prometheus.GaugeValue, float64(l.Sessions[st]), string(st))
	}
	ch <- prometheus.MustNewConstMetric(lc.limit, prometheus.GaugeValue, float64(l.MaxSessions))
	ch <- prometheus.MustNewConstMetric(lc.queued, prometheus.GaugeValue, float64(l.Queued))
	ch <- prometheus.MustNewConstMetric(lc.rss, prometheus.GaugeValue, float64(l.RSSBytes))
	ch <- prometheus.MustNewConstMetric(lc.cpu, prometheus.CounterValue, l.CPUSeconds)
	if !l.LastSweep.IsZero() {
		ch <- prometheus.MustNewConstMetric(lc.lastSweep, prometheus.GaugeValue, float64(l.LastSweep.UnixNano())/1e9)
	}
}

// knownMethods are the HTTP methods that get their own label value; any
// other is counted as OTHER, so that clients cannot make new series.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// observeHTTP counts every request by its route template (c.FullPath(),
// never the raw path; "unmatched" when no route matched), method and
// final status. It runs first, so it sees the status a panic turned into.
func (s *Server) observeHTTP(c *gin.Context) {
	m := s.cfg.Metrics
	if m == nil {
		c.Next()
		return
	}
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	method := c.Request.Method
	if !knownMethods[method] {
		method = "OTHER"
	}
	m.request(route, method, c.Writer.Status(), time.Since(start))
}

// metrics serves the Prometheus exposition; 404 without Config.Metrics.
func (s *Server) metrics(c *gin.Context) error {
	if s.cfg.Metrics == nil {
		return errNoRoute
	}
	s.cfg.Metrics.handler.ServeHTTP(c.Writer, c.Request)
	return nil
}
