package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ID is a resource id as APISIX keeps it: a string, or an integer written without quotes.
type ID string

// UnmarshalJSON accepts a string or a positive integer.
func (id *ID) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = ID(s)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 1 {
		return &json.UnmarshalTypeError{Value: jsonTypeName(b), Type: typeOfID}
	}
	*id = ID(strconv.FormatInt(n, 10))
	return nil
}

// jsonTypeName names the JSON type of a raw value as a schema error does.
func jsonTypeName(b []byte) string {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return "nothing"
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "array"
	case b[0] == 't' || b[0] == 'f':
		return "boolean"
	case b[0] == 'n':
		return "null"
	}
	return "number"
}

// Meta is the metadata every resource carries.
type Meta struct {
	ID         ID                `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Desc       string            `json:"desc,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	CreateTime int64             `json:"create_time,omitempty"`
	UpdateTime int64             `json:"update_time,omitempty"`
}

// Plugins maps a plugin name to its raw configuration; the plugins package decodes it.
type Plugins map[string]json.RawMessage

// Timeout is a connect/send/read timeout triple in seconds.
type Timeout struct {
	Connect float64 `json:"connect"`
	Send    float64 `json:"send"`
	Read    float64 `json:"read"`
}

// Route is APISIX's route.
type Route struct {
	Meta
	URI             string          `json:"uri,omitempty"`
	URIs            []string        `json:"uris,omitempty"`
	Methods         []string        `json:"methods,omitempty"`
	Host            string          `json:"host,omitempty"`
	Hosts           []string        `json:"hosts,omitempty"`
	RemoteAddr      string          `json:"remote_addr,omitempty"`
	RemoteAddrs     []string        `json:"remote_addrs,omitempty"`
	Priority        int             `json:"priority,omitempty"`
	Vars            json.RawMessage `json:"vars,omitempty"`
	FilterFunc      string          `json:"filter_func,omitempty"`
	Script          string          `json:"script,omitempty"`
	ScriptID        ID              `json:"script_id,omitempty"`
	Plugins         Plugins         `json:"plugins,omitzero"`
	PluginConfigID  ID              `json:"plugin_config_id,omitempty"`
	ServiceID       ID              `json:"service_id,omitempty"`
	UpstreamID      ID              `json:"upstream_id,omitempty"`
	Upstream        *Upstream       `json:"upstream,omitempty"`
	Timeout         *Timeout        `json:"timeout,omitempty"`
	EnableWebsocket *bool           `json:"enable_websocket,omitempty"`
	Status          *int            `json:"status,omitempty"`
}

// AllURIs returns uri or uris.
func (r *Route) AllURIs() []string {
	if r.URI != "" {
		return []string{r.URI}
	}
	return r.URIs
}

// AllHosts returns host or hosts.
func (r *Route) AllHosts() []string {
	if r.Host != "" {
		return []string{r.Host}
	}
	return r.Hosts
}

// AllRemoteAddrs returns remote_addr or remote_addrs.
func (r *Route) AllRemoteAddrs() []string {
	if r.RemoteAddr != "" {
		return []string{r.RemoteAddr}
	}
	return r.RemoteAddrs
}

// Enabled reports whether the route takes part in routing (status absent or 1).
func (r *Route) Enabled() bool { return r.Status == nil || *r.Status == 1 }

// Service is APISIX's service: plugins, an upstream and hosts that routes inherit.
type Service struct {
	Meta
	Plugins         Plugins   `json:"plugins,omitzero"`
	UpstreamID      ID        `json:"upstream_id,omitempty"`
	Upstream        *Upstream `json:"upstream,omitempty"`
	Hosts           []string  `json:"hosts,omitempty"`
	EnableWebsocket *bool     `json:"enable_websocket,omitempty"`
	Script          string    `json:"script,omitempty"`
}

// Node is one upstream server.
type Node struct {
	Host     string          `json:"host"`
	Port     int             `json:"port,omitempty"`
	Weight   int             `json:"weight"`
	Priority int             `json:"priority,omitempty"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// Nodes reads both APISIX forms: {"host:port": weight} and [{host, port, weight, …}].
type Nodes []Node

// UnmarshalJSON accepts the map and the array form.
func (ns *Nodes) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var arr []Node
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&arr); err != nil {
			return err
		}
		*ns = arr
		return nil
	}
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	out := make(Nodes, 0, len(m))
	for addr, w := range m {
		host, port, err := splitHostPort(addr)
		if err != nil {
			return err
		}
		out = append(out, Node{Host: host, Port: port, Weight: w})
	}
	// a map has no order; sort so every build of the same config balances alike
	slices.SortFunc(out, func(a, b Node) int {
		if c := strings.Compare(a.Host, b.Host); c != 0 {
			return c
		}
		return a.Port - b.Port
	})
	*ns = out
	return nil
}

// splitHostPort splits "host:port", "[v6]:port" or a bare host (port 0: the scheme's default).
func splitHostPort(addr string) (string, int, error) {
	if strings.HasPrefix(addr, "[") {
		end := strings.Index(addr, "]")
		if end < 0 {
			return "", 0, fmt.Errorf("invalid node address %q", addr)
		}
		host, rest := addr[:end+1], addr[end+1:]
		if rest == "" {
			return host, 0, nil
		}
		if !strings.HasPrefix(rest, ":") {
			return "", 0, fmt.Errorf("invalid node address %q", addr)
		}
		p, err := parsePort(rest[1:])
		return host, p, err
	}
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return addr, 0, nil
	}
	if strings.Count(addr, ":") > 1 {
		return "", 0, fmt.Errorf("IPv6 address must be enclosed with '[' and ']'")
	}
	p, err := parsePort(addr[i+1:])
	return addr[:i], p, err
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("invalid port %s", s)
	}
	return p, nil
}

// KeepalivePool tunes the connections kept to an upstream.
type KeepalivePool struct {
	Size        int     `json:"size,omitempty"`
	IdleTimeout float64 `json:"idle_timeout,omitempty"`
	Requests    int     `json:"requests,omitempty"`
}

// UpstreamTLS is the client side of TLS to an upstream (scheme https or grpcs).
type UpstreamTLS struct {
	// ClientCert and ClientKey are a PEM client certificate and its key; ClientCertID
	// instead names an ssls resource of type client. Not both.
	ClientCert   string `json:"client_cert,omitempty"`
	ClientKey    string `json:"client_key,omitempty"`
	ClientCertID ID     `json:"client_cert_id,omitempty"`
	// Verify checks the upstream's certificate and name; absent means true. APISIX
	// defaults it to false: set it false explicitly for an upstream with a certificate
	// no trusted CA (proxy.upstream_ca, or the system's roots) signed.
	Verify *bool `json:"verify,omitempty"`
}

// Upstream is APISIX's upstream.
type Upstream struct {
	Meta
	Type          string          `json:"type,omitempty"`
	Nodes         Nodes           `json:"nodes"`
	HashOn        string          `json:"hash_on,omitempty"`
	Key           string          `json:"key,omitempty"`
	Scheme        string          `json:"scheme,omitempty"`
	PassHost      string          `json:"pass_host,omitempty"`
	UpstreamHost  string          `json:"upstream_host,omitempty"`
	Retries       *int            `json:"retries,omitempty"`
	RetryTimeout  *float64        `json:"retry_timeout,omitempty"`
	Timeout       *Timeout        `json:"timeout,omitempty"`
	KeepalivePool *KeepalivePool  `json:"keepalive_pool,omitempty"`
	TLS           *UpstreamTLS    `json:"tls,omitempty"`
	Checks        json.RawMessage `json:"checks,omitempty"`
	ServiceName   string          `json:"service_name,omitempty"`
	DiscoveryType string          `json:"discovery_type,omitempty"`
	DiscoveryArgs json.RawMessage `json:"discovery_args,omitempty"`
}

// Consumer is APISIX's consumer; its id is its username.
type Consumer struct {
	Username   string            `json:"username"`
	Desc       string            `json:"desc,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Plugins    Plugins           `json:"plugins,omitzero"`
	GroupID    ID                `json:"group_id,omitempty"`
	CreateTime int64             `json:"create_time,omitempty"`
	UpdateTime int64             `json:"update_time,omitempty"`
}

// ConsumerGroup shares plugins among consumers.
type ConsumerGroup struct {
	Meta
	Plugins Plugins `json:"plugins"`
}

// Credential is one auth plugin config of a consumer, kept apart from the consumer.
type Credential struct {
	Meta
	Plugins Plugins `json:"plugins"`
}

// Validate checks the credential's schema: exactly one plugin.
func (c *Credential) Validate() error {
	if err := checkMeta(&c.Meta); err != nil {
		return err
	}
	if len(c.Plugins) != 1 {
		return errors.New(`property "plugins" validation failed: expect object to have exactly 1 property`)
	}
	return nil
}

// PluginConfig is a reusable set of plugins a route names with plugin_config_id.
type PluginConfig struct {
	Meta
	Plugins Plugins `json:"plugins"`
}

// GlobalRule is a set of plugins run for every request.
type GlobalRule struct {
	Meta
	Plugins Plugins `json:"plugins"`
}

// SSL is a certificate with its private key and the SNIs it serves.
type SSL struct {
	Meta
	Cert         string          `json:"cert,omitempty"`
	Key          string          `json:"key,omitempty"`
	Certs        []string        `json:"certs,omitempty"`
	Keys         []string        `json:"keys,omitempty"`
	SNI          string          `json:"sni,omitempty"`
	SNIs         []string        `json:"snis,omitempty"`
	Type         string          `json:"type,omitempty"`
	Status       *int            `json:"status,omitempty"`
	Client       json.RawMessage `json:"client,omitempty"`
	SSLProtocols []string        `json:"ssl_protocols,omitempty"`
}

var typeOfID = reflect.TypeFor[ID]()

// Decode reads raw into a new T, refusing unknown fields, with errors phrased as
// APISIX's schema errors ("property \"uri\" validation failed: wrong type: …").
func Decode[T any](raw json.RawMessage) (*T, error) {
	v := new(T)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return nil, SchemaError(err)
	}
	if dec.More() {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

var unknownField = regexp.MustCompile(`^json: unknown field "(.*)"$`)

// SchemaError phrases a json decoding error as APISIX's schema validator would.
func SchemaError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := te.Type.String()
		switch {
		case strings.HasPrefix(want, "map"), strings.HasPrefix(want, "store.") && want != "store.ID", want == "struct":
			want = "object"
		case strings.HasPrefix(want, "[]"), want == "store.Nodes":
			want = "array"
		case strings.HasPrefix(want, "int"), strings.HasPrefix(want, "uint"):
			want = "integer"
		case strings.HasPrefix(want, "float"):
			want = "number"
		case want == "store.ID":
			want = "string or integer id"
		}
		got := te.Value
		if got == "bool" {
			got = "boolean"
		}
		// fields of an embedded struct (Meta) show in the path under its Go name
		field := strings.Trim(strings.ReplaceAll("."+te.Field+".", ".Meta.", "."), ".")
		if field == "" {
			return fmt.Errorf("wrong type: expected %s, got %s", want, got)
		}
		return fmt.Errorf("property %q validation failed: wrong type: expected %s, got %s", field, want, got)
	}
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("additional properties forbidden, found %s", m[1])
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("invalid JSON: unexpected end of input")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at offset %d: %v", se.Offset, err)
	}
	return err
}

// hostPattern is APISIX's host rule.
var hostPattern = regexp.MustCompile(`^\*$|^\*?[0-9a-zA-Z-._\[\]:]+$`)

var httpMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE"}

func checkMeta(m *Meta) error {
	if m.Name != "" && len(m.Name) > 256 {
		return errors.New(`property "name" validation failed: string too long`)
	}
	if len(m.Desc) > 256 {
		return errors.New(`property "desc" validation failed: string too long`)
	}
	return checkLabels(m.Labels)
}

func checkLabels(labels map[string]string) error {
	for k, v := range labels {
		if k == "" || len(v) == 0 || len(v) > 256 || strings.ContainsAny(v, " \t\r\n") {
			return fmt.Errorf("property \"labels\" validation failed: label %q: value must be 1 to 256 characters without spaces", k)
		}
	}
	return nil
}

func checkHosts(field string, hosts []string) error {
	for _, h := range hosts {
		if !hostPattern.MatchString(h) {
			return fmt.Errorf("property %q validation failed: %q is not a valid host", field, h)
		}
	}
	return nil
}

func checkTimeout(field string, t *Timeout) error {
	if t == nil {
		return nil
	}
	if t.Connect <= 0 || t.Send <= 0 || t.Read <= 0 {
		return fmt.Errorf("property %q validation failed: connect, send and read are all required and must be greater than 0", field)
	}
	return nil
}

// ParseAddrOrPrefix reads an IP or CIDR as a prefix (a bare IP is a /32 or /128).
func ParseAddrOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Validate checks what the route's schema says, not references or plugins.
func (r *Route) Validate() error {
	if err := checkMeta(&r.Meta); err != nil {
		return err
	}
	if r.Host != "" && len(r.Hosts) > 0 {
		return errors.New("only one of host or hosts is allowed")
	}
	if r.RemoteAddr != "" && len(r.RemoteAddrs) > 0 {
		return errors.New("only one of remote_addr or remote_addrs is allowed")
	}
	if (r.URI == "") == (len(r.URIs) == 0) {
		return errors.New("exactly one of uri and uris is required")
	}
	if len(r.URI) > 4096 {
		return errors.New(`property "uri" validation failed: string too long`)
	}
	for i, u := range r.URIs {
		if u == "" || len(u) > 4096 {
			return fmt.Errorf("property \"uris\" validation failed: item %d must be 1 to 4096 characters", i)
		}
		if slices.Index(r.URIs, u) != i {
			return errors.New(`property "uris" validation failed: expected unique items but items are duplicated`)
		}
	}
	for i, m := range r.Methods {
		if !slices.Contains(httpMethods, m) {
			return fmt.Errorf("property \"methods\" validation failed: %q is not one of %s", m, strings.Join(httpMethods, ", "))
		}
		if slices.Index(r.Methods, m) != i {
			return errors.New(`property "methods" validation failed: expected unique items but items are duplicated`)
		}
	}
	if err := checkHosts("host", r.AllHosts()); err != nil {
		return err
	}
	for _, a := range r.AllRemoteAddrs() {
		if _, err := ParseAddrOrPrefix(a); err != nil {
			return fmt.Errorf("property \"remote_addrs\" validation failed: %q is not an IP or CIDR", a)
		}
	}
	if r.Status != nil && *r.Status != 0 && *r.Status != 1 {
		return errors.New(`property "status" validation failed: must be 0 or 1`)
	}
	if r.FilterFunc != "" {
		return errors.New("filter_func is not supported: Portico runs no Lua; use vars (an expression) instead")
	}
	if r.Script != "" || r.ScriptID != "" {
		return errors.New("script is not supported: Portico runs no Lua; use plugins instead")
	}
	if r.Plugins == nil && r.Upstream == nil && r.UpstreamID == "" && r.ServiceID == "" && r.PluginConfigID == "" {
		return errors.New("at least one of plugins, upstream, upstream_id, service_id or plugin_config_id is required")
	}
	if err := checkTimeout("timeout", r.Timeout); err != nil {
		return err
	}
	if r.Upstream != nil {
		if err := r.Upstream.Validate(); err != nil {
			return fmt.Errorf("upstream: %w", err)
		}
	}
	return nil
}

// Validate checks the service's schema.
func (s *Service) Validate() error {
	if err := checkMeta(&s.Meta); err != nil {
		return err
	}
	if err := checkHosts("hosts", s.Hosts); err != nil {
		return err
	}
	if s.Script != "" {
		return errors.New("script is not supported: Portico runs no Lua; use plugins instead")
	}
	if s.Upstream != nil {
		if err := s.Upstream.Validate(); err != nil {
			return fmt.Errorf("upstream: %w", err)
		}
	}
	return nil
}

var (
	upstreamTypes = []string{"roundrobin", "chash", "least_conn", "ewma"}
	hashOns       = []string{"vars", "header", "cookie", "consumer", "vars_combinations"}
	schemes       = []string{"http", "https", "grpc", "grpcs"}
	passHosts     = []string{"pass", "node", "rewrite"}
	varsKey       = regexp.MustCompile(`^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-Z_-]+)$`)
	headerKey     = regexp.MustCompile(`^[a-zA-Z0-9-_]+$`)
)

// Validate checks the upstream's schema.
func (u *Upstream) Validate() error {
	if err := checkMeta(&u.Meta); err != nil {
		return err
	}
	if u.ServiceName != "" || u.DiscoveryType != "" {
		return errors.New("service discovery (service_name, discovery_type) is not supported; list the nodes")
	}
	if u.Nodes == nil {
		return errors.New(`property "nodes" is required`)
	}
	for i, n := range u.Nodes {
		if n.Host == "" {
			return fmt.Errorf("property \"nodes\" validation failed: node %d: host is required", i)
		}
		if strings.Count(n.Host, ":") > 1 && !strings.HasPrefix(n.Host, "[") {
			return errors.New("IPv6 address must be enclosed with '[' and ']'")
		}
		if n.Port < 0 || n.Port > 65535 {
			return fmt.Errorf("invalid port %d", n.Port)
		}
		if n.Weight < 0 {
			return fmt.Errorf("property \"nodes\" validation failed: node %s: weight must be at least 0", n.Host)
		}
	}
	if u.Type != "" && !slices.Contains(upstreamTypes, u.Type) {
		return fmt.Errorf("property \"type\" validation failed: %q is not one of %s", u.Type, strings.Join(upstreamTypes, ", "))
	}
	if u.Type == "chash" {
		hashOn := u.HashOn
		if hashOn == "" {
			hashOn = "vars"
		}
		if !slices.Contains(hashOns, hashOn) {
			return fmt.Errorf("property \"hash_on\" validation failed: %q is not one of %s", u.HashOn, strings.Join(hashOns, ", "))
		}
		switch {
		case hashOn != "consumer" && u.Key == "":
			return errors.New("missing key")
		case hashOn == "vars" && !varsKey.MatchString(u.Key):
			return fmt.Errorf("property \"key\" validation failed: %q is not a variable chash can use", u.Key)
		case (hashOn == "header" || hashOn == "cookie") && !headerKey.MatchString(u.Key):
			return fmt.Errorf("property \"key\" validation failed: %q is not a valid %s name", u.Key, hashOn)
		}
	}
	if u.Scheme != "" && !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("property \"scheme\" validation failed: %q is not one of %s", u.Scheme, strings.Join(schemes, ", "))
	}
	if u.PassHost != "" && !slices.Contains(passHosts, u.PassHost) {
		return fmt.Errorf("property \"pass_host\" validation failed: %q is not one of pass, node, rewrite", u.PassHost)
	}
	if u.PassHost == "rewrite" && u.UpstreamHost == "" {
		return errors.New("`upstream_host` can't be empty when `pass_host` is `rewrite`")
	}
	if u.UpstreamHost != "" && !hostPattern.MatchString(u.UpstreamHost) {
		return fmt.Errorf("property \"upstream_host\" validation failed: %q is not a valid host", u.UpstreamHost)
	}
	if u.Retries != nil && *u.Retries < 0 {
		return errors.New(`property "retries" validation failed: must be at least 0`)
	}
	if u.RetryTimeout != nil && (*u.RetryTimeout < 0 || math.IsNaN(*u.RetryTimeout)) {
		return errors.New(`property "retry_timeout" validation failed: must be at least 0`)
	}
	if err := checkTimeout("timeout", u.Timeout); err != nil {
		return err
	}
	if kp := u.KeepalivePool; kp != nil && (kp.Size < 0 || kp.IdleTimeout < 0 || kp.Requests < 0) {
		return errors.New(`property "keepalive_pool" validation failed: size, idle_timeout and requests must be at least 0`)
	}
	if t := u.TLS; t != nil && (t.ClientCert == "") != (t.ClientKey == "") {
		return errors.New(`property "tls" validation failed: client_cert and client_key go together`)
	}
	if t := u.TLS; t != nil && t.ClientCert != "" && t.ClientCertID != "" {
		return errors.New(`property "tls" validation failed: client_cert_id and client_cert exclude each other`)
	}
	return nil
}

var usernamePattern = regexp.MustCompile(`^[a-zA-Z0-9_\-]{1,256}$`)

// Validate checks the consumer's schema.
func (c *Consumer) Validate() error {
	if !usernamePattern.MatchString(c.Username) {
		return fmt.Errorf("property \"username\" validation failed: %q must be 1 to 256 characters of [a-zA-Z0-9_-]", c.Username)
	}
	if len(c.Desc) > 256 {
		return errors.New(`property "desc" validation failed: string too long`)
	}
	return checkLabels(c.Labels)
}

// Validate checks the consumer group's schema.
func (g *ConsumerGroup) Validate() error { return checkPluginsHolder(&g.Meta, g.Plugins) }

// Validate checks the plugin config's schema.
func (p *PluginConfig) Validate() error { return checkPluginsHolder(&p.Meta, p.Plugins) }

// Validate checks the global rule's schema.
func (g *GlobalRule) Validate() error { return checkPluginsHolder(&g.Meta, g.Plugins) }

func checkPluginsHolder(m *Meta, p Plugins) error {
	if err := checkMeta(m); err != nil {
		return err
	}
	if p == nil {
		return errors.New(`property "plugins" is required`)
	}
	return nil
}

// Validate checks the SSL object's shape; certificates are checked by the TLS code.
func (s *SSL) Validate() error {
	if err := checkMeta(&s.Meta); err != nil {
		return err
	}
	if s.Type != "" && s.Type != "server" && s.Type != "client" {
		return errors.New(`property "type" validation failed: must be server or client`)
	}
	if s.Cert == "" || s.Key == "" {
		return errors.New(`properties "cert" and "key" are required`)
	}
	if s.Type != "client" && s.SNI == "" && len(s.SNIs) == 0 {
		return errors.New(`one of "sni" and "snis" is required`)
	}
	return nil
}

// Validator is a decoded resource that checks its own schema.
type Validator interface{ Validate() error }

// DecodeKind decodes and schema-checks a value of kind k, returning the typed resource
// (*Route, *Upstream, …; PluginMetadata and WasmModule values are decoded as a
// map[string]any).
func DecodeKind(k Kind, raw json.RawMessage) (any, error) {
	var (
		v   Validator
		err error
	)
	switch k {
	case KindRoute:
		v, err = decodeAs[Route](raw)
	case KindService:
		v, err = decodeAs[Service](raw)
	case KindUpstream:
		v, err = decodeAs[Upstream](raw)
	case KindConsumer:
		v, err = decodeAs[Consumer](raw)
	case KindConsumerGroup:
		v, err = decodeAs[ConsumerGroup](raw)
	case KindPluginConfig:
		v, err = decodeAs[PluginConfig](raw)
	case KindGlobalRule:
		v, err = decodeAs[GlobalRule](raw)
	case KindSSL:
		v, err = decodeAs[SSL](raw)
	case KindCredential:
		v, err = decodeAs[Credential](raw)
	case KindPluginMetadata, KindWasmModule:
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil || m == nil {
			return nil, errors.New("wrong type: expected object")
		}
		return m, nil
	default:
		return nil, fmt.Errorf("unknown kind %q", k)
	}
	if err != nil {
		return nil, err
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return v, nil
}

func decodeAs[T any, P interface {
	*T
	Validator
}](raw json.RawMessage) (Validator, error) {
	v, err := Decode[T](raw)
	if err != nil {
		return nil, err
	}
	return P(v), nil
}
