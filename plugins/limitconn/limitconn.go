package limitconn

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/internal/counters"
	"github.com/portico-gw/portico/plugins/internal/limitconf"
	"github.com/portico-gw/portico/plugins/internal/limitkey"
	"github.com/portico-gw/portico/plugins/internal/redislimit"
)

// Spec registers limit-conn.
var Spec = plugins.Spec{Name: "limit-conn", Priority: 1003,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is limit-conn's configuration, with APISIX's field names.
type Config struct {
	Conn                IntOrString `json:"conn"`
	Burst               IntOrString `json:"burst"`
	DefaultConnDelay    *float64    `json:"default_conn_delay"` // seconds, > 0
	OnlyUseDefaultDelay bool        `json:"only_use_default_delay,omitempty"`
	Key                 *string     `json:"key"`
	KeyType             string      `json:"key_type,omitempty"` // var (default), var_combination
	Policy              string      `json:"policy,omitempty"`   // "local" (default), "redis", "redis-cluster"
	RejectedCode        *int        `json:"rejected_code,omitempty"`
	RejectedMsg         *string     `json:"rejected_msg,omitempty"`
	AllowDegradation    bool        `json:"allow_degradation,omitempty"`
	Redis
}

// IntOrString is a JSON integer, or a string (refused by Validate for now).
type IntOrString = limitconf.IntOrString

// Redis holds the fields of the redis policies: the connection, and key_ttl.
type Redis struct {
	redislimit.Config
	KeyTTL *int `json:"key_ttl,omitempty"` // seconds a request is counted at most; nil: 3600
}

// DefaultKeyTTL is key_ttl's default (APISIX).
const DefaultKeyTTL = 3600

func checkInt(name string, v IntOrString, min int64) error {
	switch {
	case !v.Set:
		return fmt.Errorf("property %q is required", name)
	case v.Str != nil:
		return fmt.Errorf("property %q: string values ($var expressions) are not supported yet", name)
	case v.Int < min:
		return fmt.Errorf("property %q validation failed: expected %d to be at least %d", name, v.Int, min)
	}
	return nil
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if err := checkInt("conn", c.Conn, 1); err != nil {
		return err
	}
	if err := checkInt("burst", c.Burst, 0); err != nil {
		return err
	}
	switch {
	case c.DefaultConnDelay == nil:
		return errors.New(`property "default_conn_delay" is required`)
	case !(*c.DefaultConnDelay > 0) || *c.DefaultConnDelay > 86400:
		return fmt.Errorf(`property "default_conn_delay" validation failed: expected %v to be greater than 0 (and at most 86400)`, *c.DefaultConnDelay)
	case c.Key == nil:
		return errors.New(`property "key" is required`)
	}
	if err := limitconf.CheckKeyType(c.KeyType, false); err != nil {
		return err
	}
	if err := limitconf.CheckRejected(c.RejectedCode, c.RejectedMsg); err != nil {
		return err
	}
	if err := limitconf.CheckPolicy(c.Policy, redislimit.Policies); err != nil {
		return err
	}
	if redislimit.IsRedis(c.Policy) && c.KeyTTL != nil && *c.KeyTTL < 1 {
		return fmt.Errorf(`property "key_ttl" validation failed: expected %d to be at least 1`, *c.KeyTTL)
	}
	return c.Redis.Config.Validate(c.Policy)
}

// Plugin is built once per snapshot; its counters live in a shared store (see doc.go).
type Plugin struct {
	id     string
	st     atomic.Pointer[store]
	conn   int64
	max    int64 // conn + burst
	delay  time.Duration
	key    limitkey.Func
	status int
	body   []byte // pre-encoded {"error_msg": …}; nil: no body
	sleep  func(c *plugins.Ctx, d time.Duration)

	// redis policies: the shared client (nil: local), the config's crc32 for the key,
	// key_ttl, and the wall clock in unix seconds (shared by every node)
	redis   *redislimit.Client
	version string
	ttl     int64
	wall    func() int64
	degrade bool
}

// held is what Access counted in redis, for Log to uncount.
type held struct{ key, id string }

// New builds the instance, finding (or creating) the config's counter store.
func New(c *Config) (*Plugin, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	p := &Plugin{
		id:     "conf:" + hex.EncodeToString(sum[:]),
		conn:   c.Conn.Int,
		max:    c.Conn.Int + c.Burst.Int,
		delay:  time.Duration(*c.DefaultConnDelay * float64(time.Second)),
		key:    limitkey.Compile(c.KeyType, *c.Key),
		status: 503,
		sleep:  limitconf.Sleep,
	}
	if c.RejectedCode != nil {
		p.status = *c.RejectedCode
	}
	if c.RejectedMsg != nil {
		p.body = limitconf.ErrorBody(*c.RejectedMsg)
	}
	if redislimit.IsRedis(c.Policy) {
		p.redis = redislimit.Acquire(c.Policy, &c.Redis.Config)
		p.version = strconv.FormatUint(uint64(crc32.ChecksumIEEE(raw)), 10)
		p.ttl, p.degrade = DefaultKeyTTL, c.AllowDegradation
		if c.KeyTTL != nil {
			p.ttl = int64(*c.KeyTTL)
		}
		p.wall = func() int64 { return time.Now().Unix() }
		return p, nil
	}
	p.st.Store(registry.Acquire(p.id, ""))
	return p, nil
}

// Access counts the request in flight, delays it when it is above conn, or rejects it
// above conn + burst.
func (p *Plugin) Access(c *plugins.Ctx) plugins.Result {
	if p.redis != nil {
		return p.accessRedis(c)
	}
	key := p.key(c)
	k := counters.Key{Route: c.RouteID, Consumer: c.ConsumerName, Key: key}
	st := p.st.Load()
	n, rejected, live := incoming(st, k, p.max)
	for !live {
		st = registry.Acquire(p.id, "")
		p.st.Store(st)
		n, rejected, live = incoming(st, k, p.max)
	}
	if rejected {
		return plugins.Respond(p.status, p.body)
	}
	// the key counted, as the Ctx's plugin state under p: Log uncounts it
	c.SetPluginState(p, key)
	if n > p.conn {
		if d := p.delay * time.Duration((n-1)/p.conn); d >= time.Millisecond {
			p.sleep(c, d)
		}
	}
	return plugins.Continue
}

// Log uncounts what Access counted, whatever happened to the request since.
func (p *Plugin) Log(c *plugins.Ctx) {
	if p.redis != nil {
		p.logRedis(c)
		return
	}
	key, ok := c.PluginState(p).(string)
	if !ok {
		return
	}
	c.SetPluginState(p, nil)
	// a store holding a count is never retired, so p.st is the one Access counted in
	leaving(p.st.Load(), counters.Key{Route: c.RouteID, Consumer: c.ConsumerName, Key: key})
}

// failed500 answers a request whose counter cannot be reached.
var failed500 = limitconf.ErrorBody("failed to limit conn")

// accessRedis is Access for the redis policies: the request joins the key's sorted set
// in one script (see redislimit), or is rejected; 500 or a pass when redis fails.
func (p *Plugin) accessRedis(c *plugins.Ctx) plugins.Result {
	h := &held{key: redislimit.Key(redislimit.ConnPrefix, c.RouteID, c.ConsumerName, p.version, p.key(c)),
		id: redislimit.RequestID()}
	n, rejected, err := p.redis.ConnIn(h.key, h.id, p.max, p.ttl, p.wall())
	if err != nil {
		return p.redis.Answer("limit-conn", err, p.degrade, failed500)
	}
	if rejected {
		return plugins.Respond(p.status, p.body)
	}
	c.SetPluginState(p, h)
	if n > p.conn {
		if d := p.delay * time.Duration((n-1)/p.conn); d >= time.Millisecond {
			p.sleep(c, d)
		}
	}
	return plugins.Continue
}

// logRedis takes the request out of the sorted set; if redis fails, key_ttl frees it.
func (p *Plugin) logRedis(c *plugins.Ctx) {
	h, ok := c.PluginState(p).(*held)
	if !ok {
		return
	}
	c.SetPluginState(p, nil)
	if err := p.redis.ConnOut(h.key, h.id); err != nil {
		p.redis.Failed("limit-conn", err, redislimit.Leaked)
	}
}

var (
	_ plugins.AccessPhase = (*Plugin)(nil)
	_ plugins.LogPhase    = (*Plugin)(nil)
)
