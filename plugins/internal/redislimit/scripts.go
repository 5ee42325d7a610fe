package redislimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// Key builds APISIX's counter key: prefix, then the owning resource, the config version
// and the resolved key value, joined by ":". Portico's owner is the matched route (and
// the consumer, when one was identified), as in the local policy:
// "/apisix/routes/<id>" or "/apisix/routes/<id>/consumers/<name>".
func Key(prefix, routeID, consumer, confVersion, value string) string {
	if consumer != "" {
		return prefix + "/apisix/routes/" + routeID + "/consumers/" + consumer + ":" + confVersion + ":" + value
	}
	return prefix + "/apisix/routes/" + routeID + ":" + confVersion + ":" + value
}

// Key prefixes, as APISIX's.
const (
	CountPrefix = "plugin-limit-count:v1:" // + key or "<group>:<value>"
	ReqPrefix   = "limit_req:"
	ConnPrefix  = "limit_conn:"
)

// countScript is APISIX's limit-count commit script (limit-count/util.lua): a key
// without a TTL starts a window of ARGV[2] seconds at ARGV[3]; otherwise the count
// grows by ARGV[3]. It returns the count and the window's remaining milliseconds.
var countScript = redis.NewScript(`
assert(tonumber(ARGV[3]) >= 0, "cost must be at least 0")
local ttl = redis.call('pttl', KEYS[1])
if ttl < 0 then
    redis.call('set', KEYS[1], ARGV[3], 'EX', ARGV[2])
    return {ARGV[3], ARGV[2] * 1000}
end
return {redis.call('incrby', KEYS[1], ARGV[3]), ttl}
`)

// Count adds cost to key's fixed window of window seconds and returns the count in the
// window (this request included) and the milliseconds left of it.
func (cl *Client) Count(key string, limit, window, cost int64) (used, ttlMs int64, err error) {
	res, err := cl.run(countScript, key, limit, window, cost)
	if err != nil {
		return 0, 0, err
	}
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("limit-count script: unexpected reply %v", res)
	}
	if used, err = toInt(res[0]); err != nil {
		return 0, 0, err
	}
	ttlMs, err = toInt(res[1])
	return used, ttlMs, err
}

// reqScript is APISIX's limit-req commit script (limit-req/util.lua): a leaky bucket in
// one hash, rate and burst in thousandths, now in milliseconds.
var reqScript = redis.NewScript(`
local state_key  = KEYS[1]
local rate       = tonumber(ARGV[1])
local burst      = tonumber(ARGV[2])
local now        = tonumber(ARGV[3])
local ttl        = tonumber(ARGV[4])

local state = redis.call('hmget', state_key, 'excess', 'last')
local excess_raw = state[1]
local last_raw   = state[2]

local excess
if excess_raw and last_raw then
    local elapsed = now - tonumber(last_raw)
    excess = math.max(tonumber(excess_raw) - rate * math.abs(elapsed) / 1000 + 1000, 0)
    if excess > burst then
        return {0, tostring(excess)}
    end
else
    excess = 0
end

redis.call('hset', state_key, 'excess', excess, 'last', now)
redis.call('expire', state_key, ttl)
return {1, tostring(excess)}
`)

// Req lets a request into key's bucket at nowMs (unix milliseconds) for rate and burst
// in thousandths of a request. It returns the excess after it, or rejected (the bucket
// is then unchanged).
func (cl *Client) Req(key string, rate, burst float64, nowMs int64) (excess float64, rejected bool, err error) {
	ttl := int64(math.Ceil(burst/rate)) + 1
	res, err := cl.run(reqScript, key, ftoa(rate), ftoa(burst), nowMs, ttl)
	if err != nil {
		return 0, false, err
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("limit-req script: unexpected reply %v", res)
	}
	allowed, err := toInt(res[0])
	if err != nil {
		return 0, false, err
	}
	s, _ := res[1].(string)
	if excess, err = strconv.ParseFloat(s, 64); err != nil {
		return 0, false, fmt.Errorf("limit-req script: excess %v: %w", res[1], err)
	}
	return excess, allowed == 0, nil
}

// connScript is APISIX's limit-conn incoming script (limit-conn/util.lua): a sorted set
// of the requests in flight, each scored with when it stops counting (now + ttl), so a
// request whose node died before its log phase frees its slot by itself.
var connScript = redis.NewScript(`
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local req_id = ARGV[4]

redis.call('ZREMRANGEBYSCORE', key, 0, now)

local count = redis.call('ZCARD', key)
if count >= limit then
    return {0, count}
end

redis.call('ZADD', key, now + ttl, req_id)
redis.call('EXPIRE', key, ttl)
return {1, count + 1}
`)

// ConnIn counts request id in flight on key at now (unix seconds) unless limit are
// already; it returns the count including it. ttl (seconds) bounds how long a request
// that never leaves is counted.
func (cl *Client) ConnIn(key, id string, limit, ttl, now int64) (n int64, rejected bool, err error) {
	res, err := cl.run(connScript, key, limit, ttl, now, id)
	if err != nil {
		return 0, false, err
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("limit-conn script: unexpected reply %v", res)
	}
	allowed, err := toInt(res[0])
	if err != nil {
		return 0, false, err
	}
	n, err = toInt(res[1])
	return n, allowed == 0, err
}

// ConnOut uncounts request id on key (one ZREM).
func (cl *Client) ConnOut(key, id string) error {
	return cl.rc.ZRem(context.Background(), key, id).Err()
}

// node is this process's part of a request id, so ids from two nodes never collide.
var (
	node = func() string {
		b := make([]byte, 8)
		rand.Read(b)
		return hex.EncodeToString(b)
	}()
	seq atomic.Uint64
)

// RequestID returns an id unique across nodes and processes, for ConnIn.
func RequestID() string {
	return node + "-" + strconv.FormatUint(seq.Add(1), 36)
}

func toInt(v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case string:
		return strconv.ParseInt(v, 10, 64)
	}
	return 0, fmt.Errorf("redis script: %v (%T) is not an integer", v, v)
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
