package plugins

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/portico-gw/portico/plugins/internal/bodyvars"
)

// MaxBodyVarsSize bounds the request body read for the post_arg and graphql
// variables (APISIX's max_post_args_readable_size is 64 MiB; a gateway that buffers in
// memory keeps it smaller). A larger body leaves those variables absent and reaches
// the upstream whole.
const MaxBodyVarsSize = 8 << 20

// bodyState is what the body variables read: the body, read once, and what was
// parsed from it.
type bodyState struct {
	read, ok  bool
	b         []byte
	form      url.Values
	formDone  bool
	table     any
	tableDone bool
	gql       *bodyvars.GraphQL
	gqlDone   bool
}

type replayBody struct {
	io.Reader
	io.Closer
}

// requestBody reads the whole request body, once, and puts it back for the upstream.
// ok is false when it is larger than MaxBodyVarsSize or its read failed: what was read
// is put back before the rest, so the forward sees the same bytes and the same error.
func (c *Ctx) requestBody() (b []byte, ok bool) {
	if c.body == nil {
		c.body = &bodyState{}
	}
	bs := c.body
	if bs.read {
		return bs.b, bs.ok
	}
	bs.read = true
	r := c.R
	if r.Body == nil || r.Body == http.NoBody {
		bs.ok = true
		return nil, true
	}
	orig := r.Body
	b, err := io.ReadAll(io.LimitReader(orig, MaxBodyVarsSize+1))
	if err != nil || len(b) > MaxBodyVarsSize {
		r.Body = replayBody{io.MultiReader(bytes.NewReader(b), orig), orig}
		return nil, false
	}
	r.Body = replayBody{bytes.NewReader(b), orig}
	bs.b, bs.ok = b, true
	return b, true
}

// postArg is post_arg_<name>: a field of a urlencoded body.
func (c *Ctx) postArg(name string) (string, bool) {
	ct, _ := headerValue(c.R.Header, "Content-Type")
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return "", false
	}
	b, ok := c.requestBody()
	if !ok {
		return "", false
	}
	if !c.body.formDone {
		c.body.form, c.body.formDone = bodyvars.Form(b), true
	}
	return bodyvars.FormField(c.body.form, name)
}

// postArgPath is post_arg.<path>: a field of a JSON, urlencoded or multipart body.
func (c *Ctx) postArgPath(path string) (string, bool) {
	p, err := bodyvars.CompilePath(path) // cached: checked when the rule was stored
	if err != nil {
		return "", false
	}
	b, ok := c.requestBody()
	if !ok {
		return "", false
	}
	bs := c.body
	if !bs.tableDone {
		ct, _ := headerValue(c.R.Header, "Content-Type")
		t, err := bodyvars.Table(ct, b)
		if err != nil {
			c.logWarn("failed to fetch post args value", "key", path, "err", err.Error())
		}
		bs.table, bs.tableDone = t, true
	}
	if bs.table == nil {
		return "", false
	}
	return p.Lookup(bs.table)
}

// graphqlVar is graphql_<name>, from the query of a GET's `query` argument or a
// POST's body.
func (c *Ctx) graphqlVar(name string) (string, bool) {
	if c.body == nil {
		c.body = &bodyState{}
	}
	if !c.body.gqlDone {
		c.body.gqlDone = true
		var query string
		var err error
		switch c.R.Method {
		case http.MethodGet:
			query, ok := c.Var("arg_query")
			if !ok {
				return "", false
			}
			c.body.gql, err = bodyvars.ParseGraphQL(query)
		case http.MethodPost:
			b, ok := c.requestBody()
			if !ok || len(b) > bodyvars.MaxGraphQLBody {
				return "", false
			}
			ct, _ := headerValue(c.R.Header, "Content-Type")
			if query, err = bodyvars.QueryOfBody(ct, b); err == nil {
				c.body.gql, err = bodyvars.ParseGraphQL(query)
			}
		default:
			return "", false
		}
		if err != nil {
			c.logWarn("graphql", "err", err.Error())
		}
	}
	return c.body.gql.Var(name)
}

func (c *Ctx) logWarn(msg string, args ...any) {
	if c.Log != nil {
		c.Log.Warn(msg, args...)
	}
}
