package indexertest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// ValidateSchema checks value (decoded JSON) against schema, a JSON Schema subset (type,
// properties, required, additionalProperties, items, $ref into defs, anyOf, allOf), and returns
// every mismatch, each prefixed with its place below at. The indexer's tests hold the API's real
// answers to its OpenAPI document with it.
func ValidateSchema(defs map[string]any, s map[string]any, value any, at string) []string {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		def, ok := defs[name].(map[string]any)
		if !ok {
			return []string{at + ": unresolved " + ref}
		}
		return ValidateSchema(defs, def, value, at)
	}
	if all, ok := s["allOf"].([]any); ok {
		var errs []string
		for _, sub := range all {
			errs = append(errs, ValidateSchema(defs, sub.(map[string]any), value, at)...)
		}
		return errs
	}
	if anyOf, ok := s["anyOf"].([]any); ok {
		var errs []string
		for _, sub := range anyOf {
			e := ValidateSchema(defs, sub.(map[string]any), value, at)
			if len(e) == 0 {
				return nil
			}
			errs = append(errs, e...)
		}
		return []string{fmt.Sprintf("%s: matches none of anyOf: %s", at, strings.Join(errs, "; "))}
	}
	var types []string
	switch t := s["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			types = append(types, x.(string))
		}
	}
	if len(types) > 0 && !typeMatches(types, value) {
		return []string{fmt.Sprintf("%s: %s is not %v", at, describe(value), types)}
	}
	var errs []string
	switch v := value.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := v[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required property %q missing", at, r))
			}
		}
		for k, x := range v {
			ps, declared := props[k].(map[string]any)
			if !declared {
				if ap, ok := s["additionalProperties"].(map[string]any); ok {
					errs = append(errs, ValidateSchema(defs, ap, x, at+"."+k)...)
				} else if s["additionalProperties"] == false {
					errs = append(errs, fmt.Sprintf("%s: property %q is not in the document", at, k))
				}
				continue
			}
			errs = append(errs, ValidateSchema(defs, ps, x, at+"."+k)...)
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range v {
				errs = append(errs, ValidateSchema(defs, items, x, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return errs
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func typeMatches(types []string, v any) bool {
	for _, t := range types {
		switch t {
		case "null":
			if v == nil {
				return true
			}
		case "object":
			if _, ok := v.(map[string]any); ok {
				return true
			}
		case "array":
			if _, ok := v.([]any); ok {
				return true
			}
		case "string":
			if _, ok := v.(string); ok {
				return true
			}
		case "boolean":
			if _, ok := v.(bool); ok {
				return true
			}
		case "number":
			if _, ok := v.(float64); ok {
				return true
			}
		case "integer":
			if f, ok := v.(float64); ok && f == float64(int64(f)) {
				return true
			}
		}
	}
	return false
}

func describe(v any) string {
	if v == nil {
		return "null"
	}
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		b = append(b[:60], "…"...)
	}
	return string(b)
}
