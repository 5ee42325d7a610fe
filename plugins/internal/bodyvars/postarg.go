package bodyvars

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/theory/jsonpath"
)

// Path is a compiled post_arg.<path>: a JSONPath when the text holds '[', '*' or
// "..", else a dotted path.
type Path struct {
	jp    *jsonpath.Path
	parts []string
}

var paths sync.Map // text → *Path

// CompilePath compiles the text after "post_arg.". Compiled paths are cached, so
// evaluating one per request parses nothing.
func CompilePath(text string) (*Path, error) {
	if p, ok := paths.Load(text); ok {
		return p.(*Path), nil
	}
	p := &Path{}
	if strings.ContainsAny(text, "[*") || strings.Contains(text, "..") {
		jp, err := jsonpath.Parse("$." + text)
		if err != nil {
			return nil, fmt.Errorf("invalid JSONPath %q: %w", "$."+text, err)
		}
		p.jp = jp
	} else {
		p.parts = strings.Split(text, ".")
	}
	paths.Store(text, p)
	return p, nil
}

// Lookup finds the path in a body table (what Table returned).
func (p *Path) Lookup(table any) (string, bool) {
	if p.jp != nil {
		nodes := p.jp.Select(table)
		if len(nodes) == 0 {
			return "", false
		}
		return Render([]any(nodes))
	}
	cur := table
	for _, part := range p.parts {
		m, ok := cur.(map[string]any) // an array is not indexed by a dotted path (Lua: t["1"] is not t[1])
		if !ok {
			return "", false
		}
		if cur, ok = m[part]; !ok {
			return "", false
		}
	}
	return Render(cur)
}

// Render is v as a variable's value.
func Render(v any) (string, bool) {
	switch t := v.(type) {
	case nil:
		return "", false
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return t.String(), true
		}
		return luaNumber(f), true
	case float64:
		return luaNumber(t), true
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", false
	}
	return strings.TrimSuffix(b.String(), "\n"), true
}

// luaNumber formats f as Lua 5.1's tostring does ("%.14g").
func luaNumber(f float64) string {
	if f == float64(int64(f)) && f > -1e15 && f < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 14, 64)
}

// Form parses a urlencoded body as ngx.req.get_post_args does: repeated fields keep
// every value, in order.
func Form(body []byte) url.Values {
	v, _ := url.ParseQuery(string(body)) // what parses is kept, as nginx does
	return v
}

// FormField is post_arg_<name>: the first value of the field.
func FormField(form url.Values, name string) (string, bool) {
	vs, ok := form[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// Table parses the body by its Content-Type (APISIX's get_request_body_table): JSON,
// urlencoded form or multipart form, as nested maps and slices.
func Table(contentType string, body []byte) (any, error) {
	ct := strings.ToLower(contentType)
	switch {
	case strings.Contains(ct, "application/json"):
		if len(body) == 0 {
			return nil, errors.New("could not get body: request body is empty")
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("could not parse JSON request body: %w", err)
		}
		return v, nil
	case strings.Contains(ct, "application/x-www-form-urlencoded"):
		return formTable(Form(body)), nil
	case strings.Contains(ct, "multipart/form-data"):
		return multipartTable(contentType, body)
	}
	return nil, fmt.Errorf("unsupported content-type: %s, supported types are: application/json, application/x-www-form-urlencoded, multipart/form-data", contentType)
}

// formTable is a form as a Lua table: a field's value, or its values when repeated.
func formTable(form map[string][]string) map[string]any {
	t := make(map[string]any, len(form))
	for k, vs := range form {
		if len(vs) == 1 {
			t[k] = vs[0]
			continue
		}
		arr := make([]any, len(vs))
		for i, v := range vs {
			arr[i] = v
		}
		t[k] = arr
	}
	return t
}

func multipartTable(contentType string, body []byte) (any, error) {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil || params["boundary"] == "" {
		return nil, errors.New("failed to parse multipart form data")
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	fields := map[string][]string{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errors.New("failed to parse multipart form data")
		}
		b, err := io.ReadAll(part)
		if err != nil {
			return nil, errors.New("failed to parse multipart form data")
		}
		if name := part.FormName(); name != "" {
			fields[name] = append(fields[name], string(b))
		}
	}
	return formTable(fields), nil
}
