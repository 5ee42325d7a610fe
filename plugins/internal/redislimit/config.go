package redislimit

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// The policies this package serves.
const (
	Redis        = "redis"
	RedisCluster = "redis-cluster"
)

// Policies lists the policies this package serves, for limitconf.CheckPolicy.
var Policies = []string{Redis, RedisCluster}

// IsRedis reports whether policy is served by this package.
func IsRedis(policy string) bool { return policy == Redis || policy == RedisCluster }

// Defaults, as APISIX's apisix/utils/redis-schema.lua.
const (
	DefaultPort             = 6379
	DefaultTimeout          = 1000  // milliseconds
	DefaultKeepaliveTimeout = 10000 // milliseconds
	DefaultKeepalivePool    = 100
)

// Config holds the connection fields of the redis policies, with APISIX's names. A
// plugin embeds it in its Config; pointers tell an explicit 0 (refused) from absent
// (the default).
type Config struct {
	RedisHost             string   `json:"redis_host,omitempty"`
	RedisPort             *int     `json:"redis_port,omitempty"` // nil: 6379
	RedisUsername         *string  `json:"redis_username,omitempty"`
	RedisPassword         string   `json:"redis_password,omitempty"`
	RedisDatabase         *int     `json:"redis_database,omitempty"`          // nil: 0
	RedisTimeout          *int     `json:"redis_timeout,omitempty"`           // milliseconds; nil: 1000
	RedisSSL              bool     `json:"redis_ssl,omitempty"`               //
	RedisSSLVerify        bool     `json:"redis_ssl_verify,omitempty"`        // false: the certificate is not checked (APISIX)
	RedisKeepaliveTimeout *int     `json:"redis_keepalive_timeout,omitempty"` // milliseconds; nil: 10000
	RedisKeepalivePool    *int     `json:"redis_keepalive_pool,omitempty"`    // nil: 100
	RedisClusterNodes     []string `json:"redis_cluster_nodes,omitempty"`
	RedisClusterName      *string  `json:"redis_cluster_name,omitempty"`
	RedisClusterSSL       bool     `json:"redis_cluster_ssl,omitempty"`
	RedisClusterSSLVerify bool     `json:"redis_cluster_ssl_verify,omitempty"`
}

func atLeast(name string, v *int, min int) error {
	if v != nil && *v < min {
		return fmt.Errorf("property %q validation failed: expected %d to be at least %d", name, *v, min)
	}
	return nil
}

// Validate checks the fields policy uses, as APISIX's schema does for that policy (the
// others are accepted and ignored). A local policy checks nothing.
func (c *Config) Validate(policy string) error {
	switch policy {
	case Redis:
		switch {
		case c.RedisHost == "":
			return errors.New(`property "redis_host" is required`)
		case len(c.RedisHost) < 2:
			return errors.New(`property "redis_host" validation failed: string too short, expected at least 2`)
		case c.RedisUsername != nil && *c.RedisUsername == "":
			return errors.New(`property "redis_username" validation failed: string too short, expected at least 1, got 0`)
		}
		if c.RedisPort != nil && *c.RedisPort > 65535 {
			return fmt.Errorf(`property "redis_port" validation failed: expected %d to be at most 65535`, *c.RedisPort)
		}
		if err := errors.Join(atLeast("redis_port", c.RedisPort, 1), atLeast("redis_database", c.RedisDatabase, 0)); err != nil {
			return err
		}
	case RedisCluster:
		switch {
		case len(c.RedisClusterNodes) == 0:
			return errors.New(`property "redis_cluster_nodes" is required (at least 1 item)`)
		case c.RedisClusterName == nil:
			return errors.New(`property "redis_cluster_name" is required`)
		}
		for i, n := range c.RedisClusterNodes {
			if len(n) < 2 || len(n) > 100 {
				return fmt.Errorf(`property "redis_cluster_nodes" validation failed: item %d: length must be 2 to 100`, i)
			}
			if _, err := nodeAddr(n); err != nil {
				return fmt.Errorf(`property "redis_cluster_nodes" validation failed: item %d: %w`, i, err)
			}
		}
	default:
		return nil
	}
	return errors.Join(atLeast("redis_timeout", c.RedisTimeout, 1),
		atLeast("redis_keepalive_timeout", c.RedisKeepaliveTimeout, 1000),
		atLeast("redis_keepalive_pool", c.RedisKeepalivePool, 1))
}

// nodeAddr turns a cluster node, "host:port" or "host", into a dial address.
func nodeAddr(n string) (string, error) {
	host, port, err := net.SplitHostPort(n)
	if err != nil {
		if _, _, err2 := net.SplitHostPort(n + ":" + strconv.Itoa(DefaultPort)); err2 != nil {
			return "", fmt.Errorf("%q is not host:port", n)
		}
		return net.JoinHostPort(n, strconv.Itoa(DefaultPort)), nil
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || host == "" {
		return "", fmt.Errorf("%q is not host:port", n)
	}
	return n, nil
}

func or(v *int, def int) int {
	if v == nil {
		return def
	}
	return *v
}

// Timeout is redis_timeout.
func (c *Config) Timeout() time.Duration {
	return time.Duration(or(c.RedisTimeout, DefaultTimeout)) * time.Millisecond
}
