package limitcount

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/internal/counters"
	"github.com/portico-gw/portico/plugins/internal/limitconf"
	"github.com/portico-gw/portico/plugins/internal/limitkey"
	"github.com/portico-gw/portico/plugins/internal/redislimit"
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
	Policy               string      `json:"policy,omitempty"` // "local" (default), "redis", "redis-cluster"
	AllowDegradation     bool        `json:"allow_degradation,omitempty"`
	ShowLimitQuotaHeader *bool       `json:"show_limit_quota_header,omitempty"` // nil: true
	Group                string      `json:"group,omitempty"`
	SyncInterval         *float64    `json:"sync_interval,omitempty"` // redis only; -1 (off) only
	Redis
}

// IntOrString is a JSON integer, or a string (refused by Validate for now).
type IntOrString = limitconf.IntOrString

// Redis holds the fields of the redis policies: the connection fields of `redis` and
// `redis-cluster`, and those of `redis-sentinel`, accepted so that a config written for
// APISIX gets the clear "not supported yet" answer rather than "unknown field".
type Redis struct {
	redislimit.Config
	RedisSentinels      []Sentinel `json:"redis_sentinels,omitempty"`
	RedisMasterName     string     `json:"redis_master_name,omitempty"`
	RedisRole           string     `json:"redis_role,omitempty"`
	RedisConnectTimeout int        `json:"redis_connect_timeout,omitempty"`
	RedisReadTimeout    int        `json:"redis_read_timeout,omitempty"`
	SentinelUsername    string     `json:"sentinel_username,omitempty"`
	SentinelPassword    string     `json:"sentinel_password,omitempty"`
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
	if err := limitconf.CheckPolicy(c.Policy, redislimit.Policies, "redis-sentinel"); err != nil {
		return err
	}
	if redislimit.IsRedis(c.Policy) && c.SyncInterval != nil && *c.SyncInterval != -1 {
		return errors.New(`property "sync_interval": delayed sync is not supported yet (every request is counted in redis)`)
	}
	return c.Redis.Config.Validate(c.Policy)
}

// Plugin is built once per snapshot; its counters live in a shared store (see doc.go).
type Plugin struct {
	id, conf string
	grouped  bool
	st       atomic.Pointer[store]

	limit    int64
	span     int64 // window length, nanoseconds
	limitStr string
	key      limitkey.Func
	status   int
	body     []byte // pre-encoded {"error_msg": …}; nil: no body
	headers  bool
	now      func() int64

	// redis policies: the shared client (nil: local), the key's parts
	redis   *redislimit.Client
	version string // crc32 of the config, APISIX's conf_version
	group   string
	window  int64 // seconds
	degrade bool  // allow_degradation
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
		p.id, p.grouped, p.group = "group:"+c.Group, true, c.Group
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
	if redislimit.IsRedis(c.Policy) {
		p.redis = redislimit.Acquire(c.Policy, &c.Redis.Config)
		p.version = strconv.FormatUint(uint64(crc32.ChecksumIEEE(raw)), 10)
		p.window, p.degrade = c.TimeWindow.Int, c.AllowDegradation
		return p, nil
	}
	st := registry.Acquire(p.id, conf)
	if p.grouped && st.Conf() != conf {
		slog.Default().With("plugin", "limit-count").Warn("group members have different configs; they share counters, each applying its own count", "group", c.Group)
	}
	p.st.Store(st)
	return p, nil
}

// Access counts the request and rejects it once the window's count is used up.
func (p *Plugin) Access(c *plugins.Ctx) plugins.Result {
	if p.redis != nil {
		return p.accessRedis(c)
	}
	k := counters.Key{Key: p.key(c)}
	if !p.grouped {
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

// failed500 is APISIX's answer when the counter cannot be reached.
var failed500 = limitconf.ErrorBody("failed to limit count")

// accessRedis is Access for the redis policies: one script per request (see
// redislimit), APISIX's key, and 500 or a pass when redis fails.
func (p *Plugin) accessRedis(c *plugins.Ctx) plugins.Result {
	var key string
	if p.grouped {
		key = redislimit.CountPrefix + p.group + ":" + p.key(c)
	} else {
		key = redislimit.Key(redislimit.CountPrefix, c.RouteID, c.ConsumerName, p.version, p.key(c))
	}
	used, ttl, err := p.redis.Count(key, p.limit, p.window, 1)
	if err != nil {
		return p.redis.Answer("limit-count", err, p.degrade, failed500)
	}
	reset := math.Floor(float64(ttl)/10) / 100 // seconds, floored to two decimals
	remaining := p.limit - used
	if remaining < 0 {
		if p.headers {
			p.setHeaders(c, 0, reset)
		}
		return plugins.Respond(p.status, p.body)
	}
	if p.headers {
		p.setHeaders(c, remaining, reset)
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
