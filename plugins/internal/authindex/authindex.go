package authindex

import (
	"errors"
	"fmt"

	"github.com/portico-gw/portico/plugins"
)

// Item is one indexed credential: its consumer (or credential) entry and what the
// plugin derived from its config (a password, a parsed key).
type Item[V any] struct {
	Auth *plugins.AuthEntry
	Val  V
}

// Index maps a credential to its item.
type Index[V any] map[string]Item[V]

// Build maps every entry's credential to it. cred returns the entry's credential, or
// false when its config is not the plugin's (or lacks the credential); val derives the
// item's value, its error naming the consumer. A credential held by two different
// consumers is refused with APISIX's message, "duplicate <field> of plugin <plugin>
// found with …"; a consumer holding the same credential twice (inline and in a
// credential) keeps the first, unless one of the two is the entry being written
// (AuthEntry.Written), which is refused as APISIX 3.18 does.
func Build[V any](plugin, field string, entries []plugins.AuthEntry,
	cred func(a *plugins.AuthEntry) (string, bool),
	val func(a *plugins.AuthEntry) (V, error)) (Index[V], error) {
	idx := make(Index[V], len(entries))
	for i := range entries {
		a := &entries[i]
		k, ok := cred(a)
		if !ok || a.Consumer == nil {
			return nil, fmt.Errorf("plugin %s: consumer config of type %T", plugin, a.Config)
		}
		if prev, dup := idx[k]; dup {
			if prev.Auth.Consumer.Username == a.Consumer.Username && !prev.Auth.Written && !a.Written {
				continue
			}
			return nil, errors.New("duplicate " + field + " of plugin " + plugin + " found with " + Owner(prev.Auth))
		}
		v, err := val(a)
		if err != nil {
			return nil, err
		}
		idx[k] = Item[V]{Auth: a, Val: v}
	}
	return idx, nil
}

// Owner names an entry as APISIX's duplicate message does.
func Owner(e *plugins.AuthEntry) string {
	if e.CredentialID != "" {
		return "credential: " + e.CredentialID + " of consumer: " + e.Consumer.Username
	}
	return "consumer: " + e.Consumer.Username
}

// CheckRealm applies APISIX's realm schema: 1–128 printable ASCII characters, no '"' or '\'.
func CheckRealm(s string) error {
	if len(s) < 1 || len(s) > 128 {
		return fmt.Errorf(`property "realm" validation failed: string length must be between 1 and 128, got %d`, len(s))
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b > 0x7e || b == '"' || b == '\\' {
			return fmt.Errorf(`property "realm" validation failed: failed to match pattern "^[\x20-\x21\x23-\x5B\\]-\x7E]+$" with %q`, s)
		}
	}
	return nil
}

// CheckAnonymous refuses an empty anonymous_consumer.
func CheckAnonymous(name *string) error {
	if name != nil && *name == "" {
		return errors.New(`property "anonymous_consumer" validation failed: string too short, expected at least 1, got 0`)
	}
	return nil
}

// Anonymous returns the consumer named name in the request's snapshot, nil if none.
func Anonymous(c *plugins.Ctx, name string) *plugins.Consumer {
	if c.Consumers == nil {
		return nil
	}
	return c.Consumers.ByName[name]
}
