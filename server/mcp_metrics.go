package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chimerad/chimerad/server/mcp"
)

// mcpMetrics count what AI agents do at /mcp (`chimerad mcp` reaches the
// daemon through the REST API, and counts as REST requests). Labels are the
// method, the tool and the outcome, all from fixed sets.
type mcpMetrics struct {
	requests    *prometheus.CounterVec
	toolCalls   *prometheus.CounterVec
	toolSeconds *prometheus.HistogramVec
}

func newMCPMetrics() *mcpMetrics {
	m := &mcpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chimerad_mcp_requests_total",
			Help: "MCP requests and notifications received at /mcp, by method (other for methods not known in advance) and outcome (ok; error: a protocol error, never a tool's).",
		}, []string{"method", "outcome"}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chimerad_mcp_tool_calls_total",
			Help: "MCP tool calls, by tool and outcome (ok; refused: the command policy refused the line; error: a mistake the agent can correct; failed: chimerad or ChimeraX failed).",
		}, []string{"tool", "outcome"}),
		toolSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chimerad_mcp_tool_call_duration_seconds",
			Help:    "Time to answer MCP tool calls, by tool.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"tool"}),
	}
	for _, tool := range mcp.Tools {
		for _, o := range mcp.Outcomes {
			m.toolCalls.WithLabelValues(tool, string(o))
		}
	}
	return m
}

func (m *mcpMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.toolCalls, m.toolSeconds}
}

// MCPRequest counts an MCP request by method and whether it succeeded.
func (m *Metrics) MCPRequest(method string, ok bool) {
	outcome := "ok"
	if !ok {
		outcome = "error"
	}
	m.mcp.requests.WithLabelValues(method, outcome).Inc()
}

// MCPToolCall counts an MCP tool call by tool and outcome, and observes its
// duration.
func (m *Metrics) MCPToolCall(tool string, outcome mcp.Outcome, d time.Duration) {
	m.mcp.toolCalls.WithLabelValues(tool, string(outcome)).Inc()
	m.mcp.toolSeconds.WithLabelValues(tool).Observe(d.Seconds())
}
