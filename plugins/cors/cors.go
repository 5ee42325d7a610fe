package cors

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/plugins"
)

// Spec registers cors.
var Spec = plugins.Spec{Name: "cors", Priority: 4000,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is cors's configuration. Nil pointers take APISIX's defaults.
type Config struct {
	AllowOrigins              *string  `json:"allow_origins,omitempty"` // nil: "*"
	AllowMethods              *string  `json:"allow_methods,omitempty"` // nil: "*"
	AllowHeaders              *string  `json:"allow_headers,omitempty"` // nil: "*"
	ExposeHeaders             *string  `json:"expose_headers,omitempty"`
	MaxAge                    *int     `json:"max_age,omitempty"` // nil: 5
	AllowCredential           bool     `json:"allow_credential,omitempty"`
	AllowOriginsByRegex       []string `json:"allow_origins_by_regex,omitempty"`
	AllowOriginsByMetadata    []string `json:"allow_origins_by_metadata,omitempty"`
	TimingAllowOrigins        *string  `json:"timing_allow_origins,omitempty"`
	TimingAllowOriginsByRegex []string `json:"timing_allow_origins_by_regex,omitempty"`
}

const originsPattern = `^(\*|\*\*|null|\w+://[^,]+(,\w+://[^,]+)*)$`

var originsRe = regexp.MustCompile(originsPattern)

// allMethods is what "**" in allow_methods stands for.
const allMethods = "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE"

func or(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.AllowOrigins != nil && !originsRe.MatchString(*c.AllowOrigins) {
		return fmt.Errorf(`property "allow_origins" validation failed: failed to match pattern %q with %q`, originsPattern, *c.AllowOrigins)
	}
	if c.TimingAllowOrigins != nil && !originsRe.MatchString(*c.TimingAllowOrigins) {
		return fmt.Errorf(`property "timing_allow_origins" validation failed: failed to match pattern %q with %q`, originsPattern, *c.TimingAllowOrigins)
	}
	for _, l := range []struct {
		field string
		list  []string
	}{{"allow_origins_by_regex", c.AllowOriginsByRegex}, {"allow_origins_by_metadata", c.AllowOriginsByMetadata}, {"timing_allow_origins_by_regex", c.TimingAllowOriginsByRegex}} {
		if err := checkList(l.field, l.list); err != nil {
			return err
		}
	}
	if c.AllowCredential {
		if or(c.AllowOrigins, "*") == "*" || or(c.AllowMethods, "*") == "*" ||
			or(c.AllowHeaders, "*") == "*" || or(c.ExposeHeaders, "") == "*" ||
			or(c.TimingAllowOrigins, "") == "*" {
			return errors.New("you can not set '*' for other option when 'allow_credential' is true")
		}
	}
	for _, l := range []struct {
		field string
		list  []string
	}{{"allow_origins_by_regex", c.AllowOriginsByRegex}, {"timing_allow_origins_by_regex", c.TimingAllowOriginsByRegex}} {
		for i, s := range l.list {
			if _, err := regexp.Compile(s); err != nil {
				return fmt.Errorf("%s item %d: %v", l.field, i+1, err)
			}
		}
	}
	if c.AllowOriginsByMetadata != nil {
		return errors.New("allow_origins_by_metadata is not supported: plugin metadata is not available to plugins")
	}
	return nil
}

func checkList(field string, list []string) error {
	if list != nil && len(list) == 0 {
		return fmt.Errorf(`property %q validation failed: expect array to have at least 1 items`, field)
	}
	for i, s := range list {
		if len(s) < 1 {
			return fmt.Errorf(`property %q validation failed: failed to validate item %d: string too short, expected at least 1, got 0`, field, i+1)
		}
		if len(s) > 4096 {
			return fmt.Errorf(`property %q validation failed: failed to validate item %d: string too long, expected at most 4096, got %d`, field, i+1, len(s))
		}
		for j := 0; j < i; j++ {
			if list[j] == s {
				return fmt.Errorf(`property %q validation failed: expected unique items but items %d and %d are equal`, field, j+1, i+1)
			}
		}
	}
	return nil
}

// origins resolves one allow-origins setting (Access-Control-Allow-Origin or
// Timing-Allow-Origin) for a request's Origin.
type origins struct {
	set    bool           // configured at all
	value  string         // "*", "**", "null", or a single origin
	list   []string       // a comma list of origins; nil otherwise
	regex  *regexp.Regexp // *_by_regex, which replaces value/list when set
	reflex bool           // value is "**"
}

func newOrigins(value *string, byRegex []string) (origins, error) {
	var o origins
	if byRegex != nil {
		alts := make([]string, len(byRegex))
		for i, s := range byRegex {
			alts[i] = "(?:" + s + ")"
		}
		re, err := regexp.Compile(strings.Join(alts, "|"))
		if err != nil {
			return o, err
		}
		o.set, o.regex = true, re
		return o, nil
	}
	if value == nil {
		return o, nil
	}
	o.set, o.value = true, *value
	o.reflex = o.value == "**"
	if !o.reflex && strings.Contains(o.value, ",") {
		o.list = strings.Split(o.value, ",")
	}
	return o, nil
}

// resolve returns the header value for the request Origin, "" for none. As APISIX, a
// value is sent only when it is "*" or equals the request Origin.
func (o *origins) resolve(origin string, hasOrigin bool) string {
	if !o.set {
		return ""
	}
	var v string
	switch {
	case o.regex != nil:
		if !hasOrigin || !o.regex.MatchString(origin) {
			return ""
		}
		v = origin
	case o.reflex:
		if !hasOrigin {
			return "*"
		}
		v = origin
	case o.list != nil:
		for _, s := range o.list {
			if hasOrigin && s == origin {
				return origin
			}
		}
		return ""
	default:
		v = o.value
	}
	if v == "*" || (hasOrigin && v == origin) {
		return v
	}
	return ""
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	acao, tao   origins
	vary        bool // allow_origins is not "*": add Vary: Origin
	methods     string
	headers     string
	reflectHdrs bool // allow_headers "**"
	expose      string
	maxAge      string
	credential  bool
}

// New builds the instance from a validated config.
func New(c *Config) (*Plugin, error) {
	def := "*"
	ao := c.AllowOrigins
	if ao == nil {
		ao = &def
	}
	p := &Plugin{
		vary:       *ao != "*",
		methods:    or(c.AllowMethods, "*"),
		headers:    or(c.AllowHeaders, "*"),
		expose:     or(c.ExposeHeaders, ""),
		maxAge:     "5",
		credential: c.AllowCredential,
	}
	if p.methods == "**" {
		p.methods = allMethods
	}
	p.reflectHdrs = p.headers == "**"
	if c.MaxAge != nil {
		p.maxAge = strconv.Itoa(*c.MaxAge)
	}
	var err error
	if p.acao, err = newOrigins(ao, c.AllowOriginsByRegex); err != nil {
		return nil, fmt.Errorf("allow_origins_by_regex: %w", err)
	}
	if p.tao, err = newOrigins(c.TimingAllowOrigins, c.TimingAllowOriginsByRegex); err != nil {
		return nil, fmt.Errorf("timing_allow_origins_by_regex: %w", err)
	}
	return p, nil
}

// Rewrite answers every OPTIONS request with 200 and the CORS headers; the upstream is
// not called.
func (p *Plugin) Rewrite(c *plugins.Ctx) plugins.Result {
	if c.R.Method != http.MethodOptions {
		return plugins.Continue
	}
	p.setHeaders(c)
	return plugins.Respond(http.StatusOK, nil)
}

// HeaderFilter adds the CORS headers to the response. Running it again on a response
// Rewrite answered changes nothing.
func (p *Plugin) HeaderFilter(c *plugins.Ctx) { p.setHeaders(c) }

func (p *Plugin) setHeaders(c *plugins.Ctx) {
	vs := c.R.Header.Values("Origin")
	origin, hasOrigin := "", len(vs) > 0
	if hasOrigin {
		origin = vs[0]
	}
	h := c.W.Header()
	if p.vary && !varies(h) {
		h.Add("Vary", "Origin")
	}
	if allow := p.acao.resolve(origin, hasOrigin); allow != "" {
		h.Set("Access-Control-Allow-Origin", allow)
		h.Set("Access-Control-Allow-Methods", p.methods)
		h.Set("Access-Control-Max-Age", p.maxAge)
		if p.expose != "" {
			h.Set("Access-Control-Expose-Headers", p.expose)
		}
		if p.reflectHdrs {
			if rh := c.R.Header.Get("Access-Control-Request-Headers"); rh != "" {
				h.Set("Access-Control-Allow-Headers", rh)
			} else {
				h.Del("Access-Control-Allow-Headers")
			}
		} else {
			h.Set("Access-Control-Allow-Headers", p.headers)
		}
		if p.credential {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
	}
	if t := p.tao.resolve(origin, hasOrigin); t != "" {
		h.Set("Timing-Allow-Origin", t)
	}
}

// varies reports whether Vary already names Origin.
func varies(h http.Header) bool {
	for _, v := range h.Values("Vary") {
		for v != "" {
			tok, rest, _ := strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(tok), "Origin") {
				return true
			}
			v = rest
		}
	}
	return false
}

var (
	_ plugins.RewritePhase      = (*Plugin)(nil)
	_ plugins.HeaderFilterPhase = (*Plugin)(nil)
)
