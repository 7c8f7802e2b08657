package api

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

// openapiFS holds the OpenAPI fragments: main.json (this package's
// endpoints) and one file per other package's endpoints (reports, cameras).
//
//go:embed openapi/*.json
var openapiFS embed.FS

// MergeOpenAPI merges every openapi/*.json fragment into one document:
// main.json gives openapi/info/servers/security; every fragment adds paths,
// components.schemas, components.securitySchemes, components.parameters and
// components.responses. A path+method or component defined twice is an error.
func MergeOpenAPI(fsys fs.FS) (map[string]any, error) {
	names, err := fs.Glob(fsys, "openapi/*.json")
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	sort.Slice(names, func(i, j int) bool {
		// main.json first, the rest by name.
		mi, mj := strings.HasSuffix(names[i], "/main.json"), strings.HasSuffix(names[j], "/main.json")
		if mi != mj {
			return mi
		}
		return names[i] < names[j]
	})
	var doc map[string]any
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("openapi: %w", err)
		}
		var frag map[string]any
		if err := json.Unmarshal(b, &frag); err != nil {
			return nil, fmt.Errorf("openapi: %s: %w", name, err)
		}
		if doc == nil {
			if !strings.HasSuffix(name, "/main.json") {
				return nil, fmt.Errorf("openapi: main.json is missing")
			}
			doc = frag
			continue
		}
		if err := mergeSection(doc, frag, name, "paths"); err != nil {
			return nil, err
		}
		fc, _ := frag["components"].(map[string]any)
		for section, v := range fc {
			src, ok := v.(map[string]any)
			if !ok {
				continue
			}
			dc, _ := doc["components"].(map[string]any)
			if dc == nil {
				dc = map[string]any{}
				doc["components"] = dc
			}
			dst, _ := dc[section].(map[string]any)
			if dst == nil {
				dst = map[string]any{}
				dc[section] = dst
			}
			for k, x := range src {
				if _, dup := dst[k]; dup {
					if section == "securitySchemes" {
						continue // the same bearer scheme may be restated
					}
					return nil, fmt.Errorf("openapi: %s: components.%s.%s is defined twice", name, section, k)
				}
				dst[k] = x
			}
		}
	}
	if doc == nil {
		return nil, fmt.Errorf("openapi: no fragments")
	}
	return doc, nil
}

func mergeSection(doc, frag map[string]any, name, section string) error {
	src, _ := frag[section].(map[string]any)
	dst, _ := doc[section].(map[string]any)
	if dst == nil {
		dst = map[string]any{}
		doc[section] = dst
	}
	for path, v := range src {
		ops, _ := v.(map[string]any)
		have, _ := dst[path].(map[string]any)
		if have == nil {
			dst[path] = ops
			continue
		}
		for method, op := range ops {
			if _, dup := have[method]; dup {
				return fmt.Errorf("openapi: %s: %s %s is defined twice", name, strings.ToUpper(method), path)
			}
			have[method] = op
		}
	}
	return nil
}

var openAPIDoc = sync.OnceValues(func() ([]byte, error) {
	doc, err := MergeOpenAPI(openapiFS)
	if err != nil {
		return nil, err
	}
	return json.Marshal(doc)
})

// OpenAPI returns the merged document (JSON).
func OpenAPI() ([]byte, error) { return openAPIDoc() }

func serveOpenAPI(c *gin.Context) {
	b, err := openAPIDoc()
	if err != nil {
		fail(c, http.StatusInternalServerError, "internal")
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/json", b)
}
