//go:build linux

package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/chimerad/chimerad/server"
)

// api is server/openapi.yaml, loaded and validated once, and a router that
// finds its operations by path and method, whatever the host. Lazily: the
// test binary also runs as the shim and the simulator, whose start must
// stay fast.
var api = sync.OnceValues(mustLoadAPI)

func mustLoadAPI() (*openapi3.T, routers.Router) {
	doc, err := loadAPI()
	if err != nil {
		panic(err)
	}
	// The tests' daemons listen on 127.0.0.1:0 and the admin socket: match
	// operations by path alone.
	byPath := *doc
	byPath.Servers = nil
	router, err := legacy.NewRouter(&byPath)
	if err != nil {
		panic(fmt.Sprintf("openapi.yaml: router: %v", err))
	}
	// Answers that are no JSON: read as bytes or text, checked as strings.
	openapi3filter.RegisterBodyDecoder("image/png", openapi3filter.FileBodyDecoder)
	for _, ct := range []string{"text/html", "text/javascript", "text/event-stream", "application/yaml"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
	return doc, router
}

// loadAPI loads the embedded document and validates it.
func loadAPI() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(server.OpenAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: load: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.yaml: validate: %w", err)
	}
	return doc, nil
}

// validatingTransport checks every response it carries against the
// document: a response that does not match fails the request, so the
// test that sent it fails with the reason.
type validatingTransport struct {
	base http.RoundTripper
}

// apiClient is the HTTP client of the end-to-end tests (daemon.send): every
// answer they get is validated against openapi.yaml.
var apiClient = &http.Client{Transport: validatingTransport{base: http.DefaultTransport}}

func (t validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := validateResponse(req, resp, body); err != nil {
		return nil, fmt.Errorf("%s %s answered %d, which openapi.yaml does not describe: %w\nbody: %.500s",
			req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return resp, nil
}

// Files a session saved are served as what they are: structures as text.
func init() {
	for _, ct := range []string{"chemical/x-pdb", "chemical/x-mmcif"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
}

// validateResponse checks resp against the operation of req's method and
// path. Paths and methods not in the document must answer the problems
// for them (404 no_route, 405 method_not_allowed, 421 host_not_allowed),
// or a CORS preflight's empty 204.
func validateResponse(req *http.Request, resp *http.Response, body []byte) error {
	_, router := api()
	route, params, err := router.FindRoute(req)
	if err != nil {
		if req.Method == http.MethodOptions && resp.StatusCode == http.StatusNoContent && len(body) == 0 {
			return nil
		}
		switch {
		case resp.StatusCode == http.StatusNotFound, resp.StatusCode == http.StatusMethodNotAllowed,
			resp.StatusCode == http.StatusMisdirectedRequest,
			// A preflight from an origin CORS does not allow.
			req.Method == http.MethodOptions && resp.StatusCode == http.StatusForbidden:
			return validateProblem(resp, body)
		}
		return fmt.Errorf("no operation for it (%v) and not a no_route or method_not_allowed problem", err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      route,
		},
		Status: resp.StatusCode,
		Header: resp.Header,
		Body:   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// validateProblem checks an answer outside the document's operations
// against its Problem schema.
func validateProblem(resp *http.Response, body []byte) error {
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/problem+json" {
		return fmt.Errorf("content type %q, want application/problem+json", resp.Header.Get("Content-Type"))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	doc, _ := api()
	return doc.Components.Schemas["Problem"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
}
