package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// routes builds the whole API on one screen.
func (s *Server) routes() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true // c.Done and c.Value follow the request's context
	// observeHTTP first: it counts the status a panic became.
	r.Use(s.observeHTTP)
	r.Use(s.recover, s.requestID, s.accessLog, s.checkHost, s.cors, s.bodyDeadline)
	r.NoRoute(func(c *gin.Context) { s.fail(c, errNoRoute) })
	r.NoMethod(func(c *gin.Context) { s.fail(c, errMethod) })

	r.GET("/healthz", s.handle(s.healthz))
	r.GET("/readyz", s.handle(s.readyz))
	if s.cfg.MetricsRequireAuth {
		r.GET("/metrics", s.authenticate, s.requireAdmin, s.handle(s.metrics))
	} else {
		r.GET("/metrics", s.handle(s.metrics))
	}

	// The documentation is public: no token (openapi.go).
	r.GET("/api/openapi.json", s.openAPIJSON)
	r.GET("/api/openapi.yaml", s.openAPIYAML)
	r.GET("/docs", s.docsPage("docs/index.html", "text/html; charset=utf-8"))
	r.GET("/docs/redoc.standalone.js", s.docsPage("docs/redoc.standalone.js", "text/javascript; charset=utf-8"))

	// The web console, and / leading to it (console.go): public pages, not API.
	s.consoleRoutes(r)

	api := r.Group("/api", s.authenticate)
	api.GET("/status", s.handle(s.status))
	api.GET("/me", s.handle(s.me))
	api.GET("/capabilities", s.handle(s.capabilities))
	api.GET("/sessions", s.handle(s.listSessions))
	api.POST("/sessions", s.handle(s.createSession))
	api.GET("/sessions/:id", s.handle(s.getSession))
	api.PUT("/sessions/:id/heartbeat", s.handle(s.heartbeat))
	api.PATCH("/sessions/:id", s.handle(s.updateSession))
	api.DELETE("/sessions/:id", s.handle(s.deleteSession))
	api.POST("/sessions/:id/urls", s.handle(s.signURLs))
	api.POST("/sessions/:id/restart", s.handle(s.restartSession))
	api.POST("/sessions/:id/commands", s.handle(s.runCommand))
	api.GET("/sessions/:id/snapshot", s.handle(s.snapshot))
	api.POST("/sessions/:id/files", s.handle(s.addFile))
	api.GET("/sessions/:id/files", s.handle(s.listFiles))
	api.GET("/sessions/:id/files/:name", s.handle(s.download))
	api.GET("/sessions/:id/checkpoint", s.handle(s.downloadCheckpoint))
	api.POST("/sessions/:id/checkpoint", s.handle(s.checkpoint))
	api.GET("/sessions/:id/events", s.handle(s.events))
	api.GET("/sessions/:id/logs", s.handle(s.sessionLogs))

	// AI agents, over the Model Context Protocol, as the token's user (mcp.go).
	if s.cfg.MCP.Enabled {
		r.Match([]string{http.MethodGet, http.MethodPost, http.MethodDelete}, "/mcp", s.authenticate, s.serveMCP())
	}

	admin := api.Group("", s.requireAdmin)
	admin.GET("/users", s.handle(s.listUsers))
	admin.POST("/users", s.handle(s.addUser))
	admin.DELETE("/users/:name", s.handle(s.removeUser))
	admin.POST("/users/:name/token", s.handle(s.rotateToken))
	admin.GET("/stats", s.handle(s.stats))
	return r
}

// handlerFunc is a handler that returns its error for handle to write.
type handlerFunc func(c *gin.Context) error

// handle adapts a handlerFunc: a returned error becomes a problem answer.
func (s *Server) handle(h handlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			s.fail(c, err)
		}
	}
}

func (s *Server) healthz(c *gin.Context) error {
	e := s.sv.Engine()
	c.JSON(http.StatusOK, gin.H{
		"status":         "ok",
		"version":        s.cfg.Version,
		"engine":         e.Name,
		"engine_path":    e.Path,
		"sandbox":        sandboxMode(s.sv.Sandboxed()),
		"limits":         s.sv.Limits(),
		"uptime_seconds": int64(timeSince(s.start).Seconds()),
	})
	return nil
}

// status answers the capacity in numbers, for any user.
func (s *Server) status(c *gin.Context) error {
	c.JSON(http.StatusOK, s.sv.Status(caller(c).Name))
	return nil
}

// sandboxMode names the children's isolation for /healthz.
func sandboxMode(on bool) string {
	if on {
		return "namespaces"
	}
	return "off"
}
