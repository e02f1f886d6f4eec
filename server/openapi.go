package server

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"
)

// OpenAPIYAML is the OpenAPI 3.1 document of the API, written by hand: the
// source of truth, which the tests hold the routes and answers to.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

// docsFS holds the /docs page and the Redoc script it loads (see
// docs/README.md): no CDN, so the page works offline.
//
//go:embed docs/index.html docs/redoc.standalone.js
var docsFS embed.FS

// openAPIJSONDoc is OpenAPIYAML as JSON, keys in the YAML's order (Redoc
// lists operations in document order). It is converted on first use, not
// at package init: every shim and sandbox init is this binary too, and
// would pay the conversion (some 9 ms) at each start.
var openAPIJSONDoc = sync.OnceValue(func() []byte { return mustYAMLToJSON(OpenAPIYAML) })

func mustYAMLToJSON(src []byte) []byte {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		panic(fmt.Sprintf("server: openapi.yaml: %v", err))
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, &doc); err != nil {
		panic(fmt.Sprintf("server: openapi.yaml: %v", err))
	}
	return buf.Bytes()
}

// writeJSON writes a YAML node as JSON, keeping the order of mapping keys.
func writeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		return writeJSON(buf, n.Content[0])
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			key, _ := json.Marshal(n.Content[i].Value)
			buf.Write(key)
			buf.WriteByte(':')
			if err := writeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		var v any
		switch n.ShortTag() {
		case "!!str":
			v = n.Value
		default:
			if err := n.Decode(&v); err != nil {
				return fmt.Errorf("line %d: %w", n.Line, err)
			}
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.Write(b)
	default:
		return fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}
	return nil
}

// Routes lists the routes the API registers, for the contract tests that
// hold them to the OpenAPI document.
func (s *Server) Routes() gin.RoutesInfo { return s.engine.Routes() }

func (s *Server) openAPIJSON(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPIJSONDoc())
}

func (s *Server) openAPIYAML(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml", OpenAPIYAML)
}

// docsPage serves the /docs page and its script from docsFS.
func (s *Server) docsPage(name, contentType string) gin.HandlerFunc {
	b, err := docsFS.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("server: %s not embedded: %v", name, err))
	}
	return func(c *gin.Context) {
		c.Header("Content-Length", strconv.Itoa(len(b)))
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, contentType, b)
	}
}
