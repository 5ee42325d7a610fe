package redislimit

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// LogEvery is the least time between two logs of one failing client.
const LogEvery = 10 * time.Second

// Client is a pooled connection to one redis server or cluster, shared by every plugin
// instance with the same connection config.
type Client struct {
	rc   redis.UniversalClient
	name string // what it connects to, for logs: "127.0.0.1:6379" or "cluster c1"

	lastLog atomic.Int64 // unix nanoseconds of the last failure logged
	skipped atomic.Int64 // failures not logged since
}

var (
	clientsMu sync.Mutex
	clients   = map[[32]byte]*Client{}
)

// quiet drops go-redis's own log lines: it would print one per failed dial, i.e. per
// request while redis is down. Failed logs instead, rate-limited.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quiet{}) }

// connection is what tells two clients apart: every field that changes how a connection
// is made (APISIX names its keepalive pools by scheme, host, port, database and a digest
// of the credentials for the same reason).
type connection struct {
	Policy string
	Config
	Timeout, KeepaliveTimeout, KeepalivePool, Port, Database int
}

// Acquire returns the shared client for policy and c, creating it when none exists. It
// does not dial: the pool connects on first use.
func Acquire(policy string, c *Config) *Client {
	conn := connection{Policy: policy, Config: *c,
		Timeout: or(c.RedisTimeout, DefaultTimeout), KeepaliveTimeout: or(c.RedisKeepaliveTimeout, DefaultKeepaliveTimeout),
		KeepalivePool: or(c.RedisKeepalivePool, DefaultKeepalivePool), Port: or(c.RedisPort, DefaultPort), Database: or(c.RedisDatabase, 0)}
	// the defaults are resolved above; the pointers would make equal configs differ
	conn.RedisTimeout, conn.RedisKeepaliveTimeout, conn.RedisKeepalivePool, conn.RedisPort, conn.RedisDatabase = nil, nil, nil, nil, nil
	raw, _ := json.Marshal(conn)
	id := sha256.Sum256(raw) // a digest: the registry keeps no password in its keys
	clientsMu.Lock()
	defer clientsMu.Unlock()
	if cl, ok := clients[id]; ok {
		return cl
	}
	cl := newClient(&conn)
	clients[id] = cl
	return cl
}

func newClient(c *connection) *Client {
	timeout := time.Duration(c.Timeout) * time.Millisecond
	idle := time.Duration(c.KeepaliveTimeout) * time.Millisecond
	pool := max(c.KeepalivePool, 10*runtime.GOMAXPROCS(0))
	off := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if c.Policy == RedisCluster {
		addrs := make([]string, len(c.RedisClusterNodes))
		for i, n := range c.RedisClusterNodes {
			addrs[i], _ = nodeAddr(n) // checked by Validate
		}
		o := &redis.ClusterOptions{
			Addrs: addrs, Password: c.RedisPassword,
			Protocol: 2, DisableIdentity: true, MaintNotificationsConfig: off,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, PoolTimeout: timeout,
			MaxRetries: -1, DialerRetries: 1,
			PoolSize: pool, MaxIdleConns: c.KeepalivePool, ConnMaxIdleTime: idle,
		}
		if c.RedisUsername != nil {
			o.Username = *c.RedisUsername
		}
		if c.RedisClusterSSL {
			o.TLSConfig = &tls.Config{InsecureSkipVerify: !c.RedisClusterSSLVerify}
		}
		name := "cluster"
		if c.RedisClusterName != nil {
			name += " " + *c.RedisClusterName
		}
		return &Client{rc: redis.NewClusterClient(o), name: name}
	}
	addr := net.JoinHostPort(c.RedisHost, strconv.Itoa(c.Port))
	o := &redis.Options{
		Addr: addr, Password: c.RedisPassword, DB: c.Database,
		Protocol: 2, DisableIdentity: true, MaintNotificationsConfig: off,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, PoolTimeout: timeout,
		MaxRetries: -1, DialerRetries: 1,
		PoolSize: pool, MaxIdleConns: c.KeepalivePool, ConnMaxIdleTime: idle,
	}
	if c.RedisUsername != nil {
		o.Username = *c.RedisUsername
	}
	if c.RedisSSL {
		o.TLSConfig = &tls.Config{ServerName: c.RedisHost, InsecureSkipVerify: !c.RedisSSLVerify}
	}
	return &Client{rc: redis.NewClient(o), name: addr}
}

// run runs s on key: EVALSHA, then EVAL if the server does not know the script.
func (cl *Client) run(s *redis.Script, key string, args ...any) ([]any, error) {
	return s.Run(context.Background(), cl.rc, []string{key}, args...).Slice()
}

// Outcome is what a request became when redis failed, for Failed.
type Outcome int

const (
	Refused Outcome = iota // answered 500
	Passed                 // passed unlimited (allow_degradation)
	Leaked                 // limit-conn: not uncounted; key_ttl frees the slot
)

// Failed logs that a redis call of plugin failed, at most once per LogEvery for the
// client: as an error when the request was refused, as a warning otherwise (degraded).
func (cl *Client) Failed(plugin string, err error, o Outcome) {
	now := time.Now().UnixNano()
	last := cl.lastLog.Load()
	if now-last < int64(LogEvery) || !cl.lastLog.CompareAndSwap(last, now) {
		cl.skipped.Add(1)
		return
	}
	log := slog.Default().With("plugin", plugin)
	args := []any{"redis", cl.name, "error", err, "not_logged", cl.skipped.Swap(0)}
	switch o {
	case Passed:
		log.Warn("redis failed; request passed unlimited (allow_degradation)", args...)
	case Leaked:
		log.Warn("redis failed; request not uncounted, key_ttl will free it", args...)
	default:
		log.Error("redis failed; request refused with 500", args...)
	}
}

// Answer logs err (see Failed) and returns what the request gets: it passes with
// allow_degradation (degrade), else 500 with body.
func (cl *Client) Answer(plugin string, err error, degrade bool, body []byte) plugins.Result {
	if degrade {
		cl.Failed(plugin, err, Passed)
		return plugins.Continue
	}
	cl.Failed(plugin, err, Refused)
	return plugins.Respond(500, body)
}

// Name is what the client connects to, for logs and tests.
func (cl *Client) Name() string { return cl.name }
