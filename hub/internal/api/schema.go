package api

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// This file validates JSON values against the subset of OpenAPI 3.0 schema
// the hub's documents use: type, nullable, required, properties,
// additionalProperties, items, enum, format (date-time, date, uuid), allOf
// and local $ref. It backs the OpenAPI conformance tests (here and in the
// packages that add fragments), so that a response drifting from its
// documented shape fails a test.

// CheckResponse validates body (JSON) against the response documented for
// method, path template (OpenAPI form, e.g. /api/zones/{id}) and status in
// the merged OpenAPI document. A status not documented for the operation is
// an error; a non-JSON documented response only checks the status.
func CheckResponse(method, pathTemplate string, status int, body []byte) error {
	raw, err := OpenAPI()
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	return checkResponse(doc, method, pathTemplate, status, body)
}

func checkResponse(doc map[string]any, method, pathTemplate string, status int, body []byte) error {
	paths, _ := doc["paths"].(map[string]any)
	ops, _ := paths[pathTemplate].(map[string]any)
	op, _ := ops[strings.ToLower(method)].(map[string]any)
	if op == nil {
		return fmt.Errorf("%s %s is not documented", method, pathTemplate)
	}
	resps, _ := op["responses"].(map[string]any)
	resp, _ := resps[fmt.Sprint(status)].(map[string]any)
	if resp == nil {
		return fmt.Errorf("%s %s: status %d is not documented", method, pathTemplate, status)
	}
	content, _ := resp["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	if media == nil {
		return nil
	}
	schema, _ := media["schema"].(map[string]any)
	var v any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%s %s %d: body is not JSON: %w", method, pathTemplate, status, err)
	}
	if errs := validate(doc, schema, v, "$"); len(errs) > 0 {
		return fmt.Errorf("%s %s %d: %s", method, pathTemplate, status, strings.Join(errs, "; "))
	}
	return nil
}

var (
	dateTimeRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T`)
	dateRe     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	uuidRe     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// resolve follows a local $ref (#/components/schemas/Name).
func resolve(doc map[string]any, s map[string]any) (map[string]any, error) {
	for depth := 0; depth < 32; depth++ {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s, nil
		}
		const prefix = "#/components/schemas/"
		if !strings.HasPrefix(ref, prefix) {
			return nil, fmt.Errorf("unsupported $ref %q", ref)
		}
		comps, _ := doc["components"].(map[string]any)
		schemas, _ := comps["schemas"].(map[string]any)
		next, _ := schemas[strings.TrimPrefix(ref, prefix)].(map[string]any)
		if next == nil {
			return nil, fmt.Errorf("unresolved $ref %q", ref)
		}
		s = next
	}
	return nil, fmt.Errorf("$ref loop")
}

// validate returns every mismatch of v against schema s, with JSON paths.
func validate(doc map[string]any, s map[string]any, v any, at string) []string {
	if s == nil {
		return nil
	}
	s, err := resolve(doc, s)
	if err != nil {
		return []string{at + ": " + err.Error()}
	}
	nullable, _ := s["nullable"].(bool)
	if v == nil {
		if nullable || (s["type"] == nil && s["allOf"] == nil) {
			return nil
		}
		return []string{at + ": null but not nullable"}
	}
	var errs []string
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			m, _ := sub.(map[string]any)
			errs = append(errs, validate(doc, m, v, at)...)
		}
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			errs = append(errs, fmt.Sprintf("%s: %v is not one of %v", at, v, enum))
		}
	}
	typ, _ := s["type"].(string)
	switch typ {
	case "":
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return append(errs, fmt.Sprintf("%s: %T, want object", at, v))
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required property %q missing", at, r))
			}
		}
		props, _ := s["properties"].(map[string]any)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, validate(doc, ps, obj[k], at+"."+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					errs = append(errs, fmt.Sprintf("%s: property %q not allowed", at, k))
				}
			case map[string]any:
				errs = append(errs, validate(doc, ap, obj[k], at+"."+k)...)
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return append(errs, fmt.Sprintf("%s: %T, want array", at, v))
		}
		items, _ := s["items"].(map[string]any)
		for i, x := range arr {
			errs = append(errs, validate(doc, items, x, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return append(errs, fmt.Sprintf("%s: %T, want string", at, v))
		}
		switch s["format"] {
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil || !dateTimeRe.MatchString(str) {
				errs = append(errs, fmt.Sprintf("%s: %q is not an RFC 3339 date-time", at, str))
			}
		case "date":
			if !dateRe.MatchString(str) {
				errs = append(errs, fmt.Sprintf("%s: %q is not a date", at, str))
			}
		case "uuid":
			if !uuidRe.MatchString(str) {
				errs = append(errs, fmt.Sprintf("%s: %q is not a UUID", at, str))
			}
		}
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return append(errs, fmt.Sprintf("%s: %T, want integer", at, v))
		}
		if _, err := n.Int64(); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %s is not an integer", at, n))
		}
	case "number":
		if _, ok := v.(json.Number); !ok {
			return append(errs, fmt.Sprintf("%s: %T, want number", at, v))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return append(errs, fmt.Sprintf("%s: %T, want boolean", at, v))
		}
	default:
		errs = append(errs, fmt.Sprintf("%s: unsupported schema type %q", at, typ))
	}
	return errs
}
