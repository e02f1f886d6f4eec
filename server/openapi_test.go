//go:build linux

package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"github.com/chimerad/chimerad/server"
)

func TestOpenAPIDocumentValidates(t *testing.T) {
	doc, err := loadAPI()
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.OpenAPI; got != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", got)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if strings.TrimSpace(op.Summary) == "" || strings.TrimSpace(op.Description) == "" {
				t.Errorf("%s %s: summary %q, description %q: want both", method, path, op.Summary, op.Description)
			}
			if op.OperationID == "" {
				t.Errorf("%s %s: no operationId", method, path)
			}
			if op.Responses.Default() == nil {
				t.Errorf("%s %s: no default (problem) response", method, path)
			}
		}
	}
}

// routeKey is how a route and a documented operation are compared: Gin's
// :id is OpenAPI's {id}.
func routeKey(method, ginPath string) string {
	parts := strings.Split(ginPath, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") {
			parts[i] = "{" + p[1:] + "}"
		}
	}
	return method + " " + strings.Join(parts, "/")
}

// consoleRoute says whether a route is the web console's (console.go): its
// page, its files and / leading to it are a client of the API, not part
// of it, so openapi.yaml leaves them out (TestConsoleServed checks them).
func consoleRoute(path string) bool {
	return path == "/" || path == "/ui" || strings.HasPrefix(path, "/ui/")
}

// TestOpenAPICoversRoutes: every route the daemon registers is documented,
// and every documented operation is registered (both with metrics behind a
// token and without).
func TestOpenAPICoversRoutes(t *testing.T) {
	doc, _ := api()
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(documented)
	for _, requireAuth := range []bool{false, true} {
		d := MustServe(t, options{server: func(c *server.Config) { c.MetricsRequireAuth = requireAuth }})
		var registered []string
		for _, r := range d.Server.Routes() {
			if consoleRoute(r.Path) {
				continue
			}
			registered = append(registered, routeKey(r.Method, r.Path))
		}
		slices.Sort(registered)
		for _, k := range registered {
			if _, ok := slices.BinarySearch(documented, k); !ok {
				t.Errorf("route %s is registered but not in openapi.yaml", k)
			}
		}
		for _, k := range documented {
			if _, ok := slices.BinarySearch(registered, k); !ok {
				t.Errorf("openapi.yaml documents %s, which is not registered", k)
			}
		}
	}
}

// TestOpenAPIServed: the document is served without a token, as YAML
// byte for byte and as JSON saying the same, and /docs is the page.
func TestOpenAPIServed(t *testing.T) {
	d := MustServe(t, options{})
	resp, body := d.call(t, "GET", "/api/openapi.yaml", "", nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, server.OpenAPIYAML) {
		t.Errorf("GET /api/openapi.yaml = %d, %d bytes; want 200 and openapi.yaml", resp.StatusCode, len(body))
	}
	resp, body = d.call(t, "GET", "/api/openapi.json", "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/openapi.json = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal(body, &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(server.OpenAPIYAML, &fromYAML); err != nil {
		t.Fatal(err)
	}
	// Compare through JSON: yaml.v3 and encoding/json decode numbers alike
	// once both are marshaled.
	a, _ := json.Marshal(fromJSON)
	b, _ := json.Marshal(fromYAML)
	if !bytes.Equal(a, b) {
		t.Errorf("openapi.json differs from openapi.yaml")
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(body)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Errorf("openapi.json: %v", err)
	}

	resp, body = d.call(t, "GET", "/docs", "", nil)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`spec-url="/api/openapi.json"`)) || !bytes.Contains(body, []byte(`src="/docs/redoc.standalone.js"`)) {
		t.Errorf("GET /docs = %d %s", resp.StatusCode, body)
	}
	if bytes.Contains(body, []byte("https://")) || bytes.Contains(body, []byte("http://")) {
		t.Errorf("/docs refers to another origin: %s", body)
	}
	resp, body = d.call(t, "GET", "/docs/redoc.standalone.js", "", nil)
	if resp.StatusCode != 200 || len(body) < 100<<10 {
		t.Errorf("GET /docs/redoc.standalone.js = %d, %d bytes", resp.StatusCode, len(body))
	}

	// Public, but still behind the Host check.
	req, _ := http.NewRequest("GET", d.URL+"/docs", nil)
	req.Host = "evil.example"
	if resp, body := d.send(t, req, ""); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("GET /docs with Host evil.example = %d %s, want 421", resp.StatusCode, body)
	}
}

// TestValidatorRejects: the response validation the end-to-end tests rely
// on does reject answers the document does not describe.
func TestValidatorRejects(t *testing.T) {
	cases := []struct {
		method, path string
		status       int
		ct, body     string
	}{
		{"GET", "/healthz", 200, "application/json", `{"status":"fine"}`},
		{"GET", "/api/sessions/x", 200, "application/json", `{"id":"x"}`},
		{"GET", "/api/sessions/x", 404, "application/json", `{"detail":"no"}`},
		{"GET", "/api/sessions/x", 404, "application/problem+json", `{"status":404,"code":"nope"}`},
		{"GET", "/nowhere", 200, "text/plain", `hello`},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, "http://127.0.0.1"+c.path, nil)
		resp := &http.Response{StatusCode: c.status, Header: http.Header{"Content-Type": {c.ct}}}
		if err := validateResponse(req, resp, []byte(c.body)); err == nil {
			t.Errorf("%s %s → %d %s: validated, want an error", c.method, c.path, c.status, c.body)
		}
	}
}
