package api

import (
	"reflect"
	"strings"
	"sync"
)

// The OpenAPI 3.1 document of the API. Schemas are generated from the view types the handlers
// answer with (a field's json name, its Go type, `desc` tag as description; pointers, maps and
// interfaces are nullable; omitempty fields are optional, all others required; no other
// properties), so the document cannot drift from the code; TestOpenAPIMatchesResponses holds
// real responses to it.

type param struct {
	name, in, typ, desc string
	required            bool
	enum                []string
}

type endpoint struct {
	path, summary, desc string
	params              []param
	result              any
}

var endpoints = []endpoint{
	{path: "/api/v1/status", summary: "The indexer's own state", result: StatusView{}},
	{path: "/api/v1/providers", summary: "Providers, filtered, sorted and paginated", result: ProviderPage{},
		desc: "Sorted by (key, address); a provider without the sort key (no price, no uptime) comes last. Pagination is by cursor: pass next_cursor back as cursor.",
		params: []param{
			{name: "model", in: "query", typ: "string", desc: "only providers pricing this model: a model id or its name in the registry's catalog"},
			{name: "attested", in: "query", typ: "boolean", desc: "only attested (true) or unattested (false) providers"},
			{name: "status", in: "query", typ: "string", desc: "effective status", enum: []string{"unregistered", "active", "paused", "exiting", "jailed", "slashed"}},
			{name: "max_price", in: "query", typ: "string", desc: "highest completion price per 1M tokens, in TON (e.g. 0.5), of the model filter's price or else the lowest"},
			{name: "sort", in: "query", typ: "string", desc: "sort key (default tokens)", enum: providerSorts},
			{name: "order", in: "query", typ: "string", desc: "default asc for price, desc for the others", enum: []string{"asc", "desc"}},
			{name: "limit", in: "query", typ: "integer", desc: "page size, 1 to 200 (default 50)"},
			{name: "cursor", in: "query", typ: "string", desc: "next_cursor of the previous page"},
		}},
	{path: "/api/v1/providers/{address}", summary: "A provider's profile, prices, attestation timeline, stake history, usage, uptime", result: ProviderDetail{},
		params: []param{{name: "address", in: "path", typ: "string", required: true, desc: "the Provider contract, raw (0:<hex>) or user-friendly"}}},
	{path: "/api/v1/models", summary: "The registry's model catalog with prices", result: ModelList{}},
	{path: "/api/v1/channels", summary: "Payment channels, all or one provider's", result: ChannelList{},
		params: []param{{name: "provider", in: "query", typ: "string", desc: "the Provider contract whose channels to list"}}},
	{path: "/api/v1/channels/{address}", summary: "A channel's state, deposits, claims and closes", result: ChannelDetail{},
		params: []param{{name: "address", in: "path", typ: "string", required: true, desc: "the Channel contract, raw or user-friendly"}}},
	{path: "/api/v1/oracles", summary: "The oracle set, allowed measurements and each oracle's latest uptime root", result: OracleSet{}},
	{path: "/api/v1/oracles/{address}", summary: "An oracle, current or removed, with its uptime commitments and what became of their tables", result: OracleDetail{},
		params: []param{{name: "address", in: "path", typ: "string", required: true, desc: "the oracle's wallet, raw or user-friendly"}}},
	{path: "/api/v1/stats", summary: "Network numbers: providers, channels, stake, tokens served and TON paid (24 h, previous 24 h, total)", result: StatsView{}},
	{path: "/api/v1/stats/series", summary: "Claims per hour or per day", result: SeriesView{},
		params: []param{
			{name: "interval", in: "query", typ: "string", desc: "default hour", enum: []string{"hour", "day"}},
			{name: "points", in: "query", typ: "integer", desc: "intervals up to now: 1..2160 hours (default 48) or 1..365 days (default 30)"},
		}},
	{path: "/api/v1/tx/{hash}", summary: "A transaction, decoded, and the cascade it belongs to", result: TxDetail{},
		params: []param{{name: "hash", in: "path", typ: "string", required: true, desc: "transaction hash, 64 hex digits"}}},
}

var (
	openapiOnce sync.Once
	openapiDoc  map[string]any
)

// OpenAPI is the API's OpenAPI 3.1 document.
func OpenAPI() map[string]any {
	openapiOnce.Do(func() {
		g := &schemaGen{schemas: map[string]any{}}
		errRef := g.ref(reflect.TypeOf(ErrorBody{}))
		paths := map[string]any{}
		for _, e := range endpoints {
			var params []any
			for _, p := range e.params {
				s := map[string]any{"type": p.typ}
				if len(p.enum) > 0 {
					s["enum"] = p.enum
				}
				params = append(params, map[string]any{"name": p.name, "in": p.in, "required": p.required, "description": p.desc, "schema": s})
			}
			op := map[string]any{
				"summary": e.summary,
				"responses": map[string]any{
					"200": map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": g.ref(reflect.TypeOf(e.result))}}},
					"400": map[string]any{"description": "bad input (address, hash, parameter)", "content": map[string]any{"application/json": map[string]any{"schema": errRef}}},
					"404": map[string]any{"description": "not indexed", "content": map[string]any{"application/json": map[string]any{"schema": errRef}}},
				},
			}
			if e.desc != "" {
				op["description"] = e.desc
			}
			if len(params) > 0 {
				op["parameters"] = params
			}
			paths[e.path] = map[string]any{"get": op}
		}
		openapiDoc = map[string]any{
			"openapi": "3.1.0",
			"info": map[string]any{
				"title":   "Cocoon indexer API",
				"version": "1",
				"description": "Everything on-chain about a Cocoon network, decoded: providers, stakes, models, prices, attestations, " +
					"oracles, channels, claims, fees and usage. Money is {nano, ton} (exact nanoTON and TON as decimal strings), " +
					"addresses {raw, friendly}, times unix seconds, 64-bit counts decimal strings; a value not known yet is null. " +
					"Errors answer {\"error\": {\"code\", \"message\"}} with status 400 or 404. See docs/PROTOCOL.md \"Indexer API\".",
			},
			"paths":      paths,
			"components": map[string]any{"schemas": g.schemas},
		}
	})
	return openapiDoc
}

type schemaGen struct {
	schemas map[string]any
}

// ref is the schema of t: a $ref for named structs (generated once), inline otherwise.
func (g *schemaGen) ref(t reflect.Type) map[string]any {
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(g.ref(t.Elem()))
	case reflect.Struct:
		name := t.Name()
		if _, ok := g.schemas[name]; !ok {
			g.schemas[name] = map[string]any{} // placeholder against recursion
			g.schemas[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.ref(t.Elem())}
	case reflect.Map:
		s := map[string]any{"type": []any{"object", "null"}}
		if t.Elem().Kind() != reflect.Interface {
			s["additionalProperties"] = g.ref(t.Elem())
		}
		return s
	case reflect.Interface:
		return map[string]any{}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	default:
		return map[string]any{"type": "integer"}
	}
}

func nullable(s map[string]any) map[string]any {
	if t, ok := s["type"].(string); ok {
		out := map[string]any{}
		for k, v := range s {
			out[k] = v
		}
		out["type"] = []any{t, "null"}
		return out
	}
	if _, ok := s["type"].([]any); ok {
		return s
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

// object is a struct's schema: its json fields (embedded structs inlined).
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []any
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || !f.IsExported() {
				continue
			}
			if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" {
				name = f.Name
			}
			s := g.ref(f.Type)
			if d := f.Tag.Get("desc"); d != "" {
				s = withDesc(s, d)
			}
			props[name] = s
			if !strings.Contains(opts, "omitempty") {
				required = append(required, name)
			}
		}
	}
	walk(t)
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

func withDesc(s map[string]any, d string) map[string]any {
	if _, isRef := s["$ref"]; isRef {
		return map[string]any{"allOf": []any{s}, "description": d}
	}
	out := map[string]any{"description": d}
	for k, v := range s {
		out[k] = v
	}
	return out
}
