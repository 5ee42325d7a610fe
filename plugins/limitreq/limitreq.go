package limitreq

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

// Spec registers limit-req.
var Spec = plugins.Spec{Name: "limit-req", Priority: 1001,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is limit-req's configuration, with APISIX's field names.
type Config struct {
	Rate             *float64 `json:"rate"`  // requests per second, > 0
	Burst            *float64 `json:"burst"` // requests above rate that are delayed, >= 0
	Key              *string  `json:"key"`
	KeyType          string   `json:"key_type,omitempty"` // var (default), var_combination
	Policy           string   `json:"policy,omitempty"`   // "local" (default), "redis", "redis-cluster"
	RejectedCode     *int     `json:"rejected_code,omitempty"`
	RejectedMsg      *string  `json:"rejected_msg,omitempty"`
	Nodelay          bool     `json:"nodelay,omitempty"`
	AllowDegradation bool     `json:"allow_degradation,omitempty"`
	Redis
}

// Redis holds the connection fields of the redis policies.
type Redis = redislimit.Config

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	switch {
	case c.Rate == nil:
		return errors.New(`property "rate" is required`)
	case c.Burst == nil:
		return errors.New(`property "burst" is required`)
	case c.Key == nil:
		return errors.New(`property "key" is required`)
	case !(*c.Rate > 0):
		return fmt.Errorf(`property "rate" validation failed: expected %v to be greater than 0`, *c.Rate)
	case !(*c.Burst >= 0):
		return fmt.Errorf(`property "burst" validation failed: expected %v to be at least 0`, *c.Burst)
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
	return c.Redis.Validate(c.Policy)
}

// Plugin is built once per snapshot; its buckets live in a shared store (see doc.go).
type Plugin struct {
	id      string
	st      atomic.Pointer[store]
	rate    float64 // thousandths of a request per second
	burst   float64 // thousandths of a request
	key     limitkey.Func
	nodelay bool
	status  int
	body    []byte // pre-encoded {"error_msg": …}; nil: no body
	now     func() int64
	sleep   func(c *plugins.Ctx, d time.Duration)

	// redis policies: the shared client (nil: local), the config's crc32 for the key,
	// and the wall clock in unix milliseconds (shared by every node)
	redis   *redislimit.Client
	version string
	wallMs  func() int64
	degrade bool
}

// New builds the instance, finding (or creating) the config's bucket store.
func New(c *Config) (*Plugin, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	p := &Plugin{
		id:      "conf:" + hex.EncodeToString(sum[:]),
		rate:    *c.Rate * 1000,
		burst:   *c.Burst * 1000,
		key:     limitkey.Compile(c.KeyType, *c.Key),
		nodelay: c.Nodelay,
		status:  503,
		now:     mono,
		sleep:   limitconf.Sleep,
	}
	if c.RejectedCode != nil {
		p.status = *c.RejectedCode
	}
	if c.RejectedMsg != nil {
		p.body = limitconf.ErrorBody(*c.RejectedMsg)
	}
	if redislimit.IsRedis(c.Policy) {
		p.redis = redislimit.Acquire(c.Policy, &c.Redis)
		p.version = strconv.FormatUint(uint64(crc32.ChecksumIEEE(raw)), 10)
		p.wallMs = func() int64 { return time.Now().UnixMilli() }
		p.degrade = c.AllowDegradation
		return p, nil
	}
	p.st.Store(registry.Acquire(p.id, ""))
	return p, nil
}

// Access lets the request into the bucket, delays it by its excess over rate, or
// rejects it when the excess would pass burst.
func (p *Plugin) Access(c *plugins.Ctx) plugins.Result {
	if p.redis != nil {
		return p.accessRedis(c)
	}
	k := counters.Key{Route: c.RouteID, Consumer: c.ConsumerName, Key: p.key(c)}
	now := p.now()
	st := p.st.Load()
	excess, rejected, live := incoming(st, k, p.rate, p.burst, now)
	for !live {
		st = registry.Acquire(p.id, "")
		p.st.Store(st)
		excess, rejected, live = incoming(st, k, p.rate, p.burst, now)
	}
	if rejected {
		return plugins.Respond(p.status, p.body)
	}
	if delay := excess / p.rate; delay >= 0.001 && !p.nodelay {
		p.sleep(c, time.Duration(delay*float64(time.Second)))
	}
	return plugins.Continue
}

// failed500 answers a request whose bucket cannot be reached.
var failed500 = limitconf.ErrorBody("failed to limit req")

// accessRedis is Access for the redis policies: one script per request (see
// redislimit), APISIX's key, and 500 or a pass when redis fails.
func (p *Plugin) accessRedis(c *plugins.Ctx) plugins.Result {
	key := redislimit.Key(redislimit.ReqPrefix, c.RouteID, c.ConsumerName, p.version, p.key(c))
	excess, rejected, err := p.redis.Req(key, p.rate, p.burst, p.wallMs())
	if err != nil {
		return p.redis.Answer("limit-req", err, p.degrade, failed500)
	}
	if rejected {
		return plugins.Respond(p.status, p.body)
	}
	if delay := excess / p.rate; delay >= 0.001 && !p.nodelay {
		p.sleep(c, time.Duration(delay*float64(time.Second)))
	}
	return plugins.Continue
}

var _ plugins.AccessPhase = (*Plugin)(nil)
