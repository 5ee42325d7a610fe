package logutil

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/portico-gw/portico/plugins/condition"
)

// DefaultMaxBodyBytes is APISIX's max_req_body_bytes and max_resp_body_bytes default.
const DefaultMaxBodyBytes = 524288

// maxFormatDepth is how deep a log_format object may nest (APISIX's
// MAX_LOG_FORMAT_DEPTH); deeper objects are logged as {}.
const maxFormatDepth = 5

// Fields are the log-util fields every logger plugin accepts, with APISIX's names.
type Fields struct {
	LogFormat           json.RawMessage `json:"log_format,omitempty"`
	LogFormatExtra      json.RawMessage `json:"log_format_extra,omitempty"`
	IncludeReqBody      bool            `json:"include_req_body,omitempty"`
	IncludeReqBodyExpr  json.RawMessage `json:"include_req_body_expr,omitempty"`
	IncludeRespBody     bool            `json:"include_resp_body,omitempty"`
	IncludeRespBodyExpr json.RawMessage `json:"include_resp_body_expr,omitempty"`
	MaxReqBodyBytes     *int            `json:"max_req_body_bytes,omitempty"`
	MaxRespBodyBytes    *int            `json:"max_resp_body_bytes,omitempty"`
}

// Validate names the bad field.
func (f *Fields) Validate() error {
	for _, v := range []struct {
		name string
		raw  json.RawMessage
	}{{"log_format", f.LogFormat}, {"log_format_extra", f.LogFormatExtra}} {
		if len(v.raw) > 0 {
			if _, err := compileFormat(v.raw, 1); err != nil {
				return fmt.Errorf("property %q validation failed: %v", v.name, err)
			}
		}
	}
	for _, v := range []struct {
		name string
		raw  json.RawMessage
	}{{"include_req_body_expr", f.IncludeReqBodyExpr}, {"include_resp_body_expr", f.IncludeRespBodyExpr}} {
		if _, err := compileExpr(v.name, v.raw); err != nil {
			return err
		}
	}
	for _, v := range []struct {
		name string
		n    *int
	}{{"max_req_body_bytes", f.MaxReqBodyBytes}, {"max_resp_body_bytes", f.MaxRespBodyBytes}} {
		if v.n != nil && *v.n < 1 {
			return fmt.Errorf("property %q validation failed: expected %d to be at least 1", v.name, *v.n)
		}
	}
	return nil
}

// compileExpr compiles an include_*_body_expr: a non-empty array of expressions.
func compileExpr(name string, raw json.RawMessage) (*condition.Condition, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("property %q validation failed: wrong type: expected array", name)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("property %q validation failed: expect array to have at least 1 items", name)
	}
	c, err := condition.Compile(raw)
	if err != nil {
		return nil, fmt.Errorf("failed to validate the '%s' expression: %v", name, err)
	}
	return c, nil
}

// CompileMatch compiles file-logger's `match`: up to 20 expressions, OR-ed.
func CompileMatch(raw json.RawMessage) ([]*condition.Condition, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errors.New(`property "match" validation failed: wrong type: expected array`)
	}
	if len(items) > 20 {
		return nil, fmt.Errorf(`property "match" validation failed: expect array to have at most 20 items`)
	}
	out := make([]*condition.Condition, 0, len(items))
	for _, it := range items {
		c, err := condition.Compile(it)
		if err != nil {
			return nil, fmt.Errorf("failed to validate the 'match' expression: %v", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// fmtNode is one key of a compiled log_format.
type fmtNode struct {
	key     string
	varName string // set: the value is this variable
	lit     any    // otherwise a literal…
	sub     []fmtNode
	nested  bool // …or a nested object
}

func compileFormat(raw json.RawMessage, depth int) ([]fmtNode, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errors.New("wrong type: expected object")
	}
	out := make([]fmtNode, 0, len(m))
	for k, v := range m {
		n := fmtNode{key: k}
		var s string
		switch {
		case json.Unmarshal(v, &s) == nil:
			if len(s) > 0 && s[0] == '$' {
				n.varName = s[1:]
			} else {
				n.lit = s
			}
		case len(v) > 0 && v[0] == '{':
			n.nested = true
			if depth < maxFormatDepth {
				sub, err := compileFormat(v, depth+1)
				if err != nil {
					return nil, err
				}
				n.sub = sub
			}
		default:
			var lit any
			if err := json.Unmarshal(v, &lit); err != nil {
				return nil, err
			}
			n.lit = lit
		}
		out = append(out, n)
	}
	return out, nil
}
