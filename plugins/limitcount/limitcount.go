package limitcount

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/internal/counters"
	"github.com/portico-gw/portico/plugins/internal/limitconf"
	"github.com/portico-gw/portico/plugins/internal/limitkey"
)

// Spec registers limit-count.
var Spec = plugins.Spec{Name: "limit-count", Priority: 1002,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is limit-count's configuration, with APISIX's field names.
type Config struct {
	Count                IntOrString `json:"count"`
	TimeWindow           IntOrString `json:"time_window"`
	WindowType           string      `json:"window_type,omitempty"` // "fixed" (default); "sliding" not supported yet
	Key                  string      `json:"key,omitempty"`         // empty: "remote_addr"
	KeyType              string      `json:"key_type,omitempty"`    // var (default), var_combination, constant
	RejectedCode         *int        `json:"rejected_code,omitempty"`
	RejectedMsg          *string     `json:"rejected_msg,omitempty"`
	Policy               string      `json:"policy,omitempty"` // "local" (default)
	AllowDegradation     bool        `json:"allow_degradation,omitempty"`
	ShowLimitQuotaHeader *bool       `json:"show_limit_quota_header,omitempty"` // nil: true
	Group                string      `json:"group,omitempty"`
	SyncInterval         *float64    `json:"sync_interval,omitempty"` // redis only
	Redis
}

// IntOrString is a JSON integer, or a string (refused by Validate for now).
type IntOrString = limitconf.IntOrString

// Redis holds the fields of the redis policies. They are accepted so that a config
// written for APISIX gets the clear "not supported yet" answer rather than "unknown
// field"; nothing uses them yet.
type Redis struct {
	RedisHost             string     `json:"redis_host,omitempty"`
	RedisPort             int        `json:"redis_port,omitempty"`
	RedisUsername         string     `json:"redis_username,omitempty"`
	RedisPassword         string     `json:"redis_password,omitempty"`
	RedisDatabase         int        `json:"redis_database,omitempty"`
	RedisTimeout          int        `json:"redis_timeout,omitempty"`
	RedisSSL              bool       `json:"redis_ssl,omitempty"`
	RedisSSLVerify        bool       `json:"redis_ssl_verify,omitempty"`
	RedisKeepaliveTimeout int        `json:"redis_keepalive_timeout,omitempty"`
	RedisKeepalivePool    int        `json:"redis_keepalive_pool,omitempty"`
	RedisClusterNodes     []string   `json:"redis_cluster_nodes,omitempty"`
	RedisClusterName      string     `json:"redis_cluster_name,omitempty"`
	RedisClusterSSL       bool       `json:"redis_cluster_ssl,omitempty"`
	RedisClusterSSLVerify bool       `json:"redis_cluster_ssl_verify,omitempty"`
	RedisSentinels        []Sentinel `json:"redis_sentinels,omitempty"`
	RedisMasterName       string     `json:"redis_master_name,omitempty"`
	RedisRole             string     `json:"redis_role,omitempty"`
	RedisConnectTimeout   int        `json:"redis_connect_timeout,omitempty"`
	RedisReadTimeout      int        `json:"redis_read_timeout,omitempty"`
	SentinelUsername      string     `json:"sentinel_username,omitempty"`
	SentinelPassword      string     `json:"sentinel_password,omitempty"`
}

// Sentinel is one redis-sentinel node.
type Sentinel struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

func checkPositive(name string, v IntOrString) error {
	switch {
	case !v.Set:
		return fmt.Errorf("property %q is required", name)
	case v.Str != nil:
		return fmt.Errorf("property %q: string values ($var expressions) are not supported yet", name)
	case v.Int <= 0:
		return fmt.Errorf("property %q validation failed: expected %d to be greater than 0", name, v.Int)
	case v.Int > math.MaxInt64/int64(1e9) && name == "time_window":
		return fmt.Errorf("property %q validation failed: %d is too large", name, v.Int)
	}
	return nil
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if err := checkPositive("count", c.Count); err != nil {
		return err
	}
	if err := checkPositive("time_window", c.TimeWindow); err != nil {
		return err
	}
	switch c.WindowType {
	case "", "fixed":
	case "sliding":
		return errors.New(`property "window_type": "sliding" is not supported yet`)
	default:
		return fmt.Errorf(`property "window_type" validation failed: matches none of the enum values`)
	}
	if err := limitconf.CheckKeyType(c.KeyType, true); err != nil {
		return err
	}
	if err := limitconf.CheckRejected(c.RejectedCode, c.RejectedMsg); err != nil {
		return err
	}
	return limitconf.CheckPolicy(c.Policy, "redis", "redis-cluster", "redis-sentinel")
}

// Plugin is built once per snapshot; its counters live in a shared store (see doc.go).
type Plugin struct {
	id, conf string
	group    bool
	st       atomic.Pointer[store]

	limit    int64
	span     int64 // window length, nanoseconds
	limitStr string
	key      limitkey.Func
	status   int
	body     []byte // pre-encoded {"error_msg": …}; nil: no body
	headers  bool
	now      func() int64
}

// New builds the instance, finding (or creating) the config's counter store.
func New(c *Config) (*Plugin, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	conf := hex.EncodeToString(sum[:])
	p := &Plugin{
		conf:     conf,
		id:       "conf:" + conf,
		limit:    c.Count.Int,
		span:     c.TimeWindow.Int * 1e9,
		limitStr: strconv.FormatInt(c.Count.Int, 10),
		status:   503,
		headers:  c.ShowLimitQuotaHeader == nil || *c.ShowLimitQuotaHeader,
		now:      mono,
	}
	if c.Group != "" {
		p.id, p.group = "group:"+c.Group, true
	}
	key := c.Key
	if key == "" {
		key = "remote_addr"
	}
	p.key = limitkey.Compile(c.KeyType, key)
	if c.RejectedCode != nil {
		p.status = *c.RejectedCode
	}
	if c.RejectedMsg != nil {
		p.body = limitconf.ErrorBody(*c.RejectedMsg)
	}
	st := registry.Acquire(p.id, conf)
	if p.group && st.Conf() != conf {
		slog.Default().With("plugin", "limit-count").Warn("group members have different configs; they share counters, each applying its own count", "group", c.Group)
	}
	p.st.Store(st)
	return p, nil
}

// Access counts the request and rejects it once the window's count is used up.
func (p *Plugin) Access(c *plugins.Ctx) plugins.Result {
	k := counters.Key{Key: p.key(c)}
	if !p.group {
		k.Route, k.Consumer = c.RouteID, c.ConsumerName
	}
	now := p.now()
	st := p.st.Load()
	used, end, started, live := incoming(st, k, p.span, now, 1)
	for !live {
		st = registry.Acquire(p.id, p.conf)
		p.st.Store(st)
		used, end, started, live = incoming(st, k, p.span, now, 1)
	}
	reset := float64(p.span) / 1e9
	if !started {
		reset = math.Max(0, math.Floor(float64(end-now)/1e7)/100)
	}
	if used > p.limit {
		if p.headers {
			p.setHeaders(c, 0, reset)
		}
		return plugins.Respond(p.status, p.body)
	}
	if p.headers {
		p.setHeaders(c, p.limit-used, reset)
	}
	return plugins.Continue
}

func (p *Plugin) setHeaders(c *plugins.Ctx, remaining int64, reset float64) {
	h := c.W.Header()
	h.Set("X-RateLimit-Limit", p.limitStr)
	h.Set("X-RateLimit-Remaining", strconv.FormatInt(remaining, 10))
	h.Set("X-RateLimit-Reset", strconv.FormatFloat(reset, 'f', -1, 64))
}

var _ plugins.AccessPhase = (*Plugin)(nil)
