package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/portico-gw/portico/store"
)

// validate checks one value of kind k before it is stored: schema, references, plugins,
// then the data plane's own check. Every refusal is a badRequest naming the problem.
func (s *Server) validate(rd store.Reader, k store.Kind, id string, value json.RawMessage) error {
	return s.check(rd, k, id, value, true)
}

// check is validate; refs false skips looking up what the value names (other resources,
// an ssl, a consumer), as APISIX's skip_references_check for POST /configs/validate.
func (s *Server) check(rd store.Reader, k store.Kind, id string, value json.RawMessage, refs bool) error {
	obj, err := store.DecodeKind(k, value)
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "only one of") && !strings.HasPrefix(msg, "missing key") && !strings.HasPrefix(msg, "`upstream_host`") && !strings.HasPrefix(msg, "IPv6") && !strings.HasPrefix(msg, "invalid port") {
			msg = "invalid configuration: " + msg
		}
		return bad("%s", msg)
	}
	exists := func(rk store.Kind, rid store.ID, what string) error {
		if rid == "" || !refs {
			return nil
		}
		if _, err := rd.Get(rk, string(rid)); errors.Is(err, store.ErrNotFound) {
			return bad("failed to fetch %s info by %s id [%s], response code: 404", what, what, rid)
		} else if err != nil {
			return err
		}
		return nil
	}
	checkPlugins := func(p store.Plugins) error {
		if err := s.opts.Registry.DecodeAll(p); err != nil {
			return bad("%v", err)
		}
		return s.checkHooks(rd, p)
	}
	switch v := obj.(type) {
	case *store.Upstream:
		if err := clientCertSSL(rd, v, refs); err != nil {
			return err
		}
	case *store.SSL:
		// a client certificate an upstream uses must stay one
		if v.Type != "client" && id != "" && sslType(rd, id) == "client" {
			if err := clientCertUsers(rd, id, "change the type of"); err != nil {
				return err
			}
		}
	case *store.Route:
		if err := clientCertSSL(rd, v.Upstream, refs); err != nil {
			return err
		}
		if err := exists(store.KindUpstream, v.UpstreamID, "upstream"); err != nil {
			return err
		}
		if err := exists(store.KindService, v.ServiceID, "service"); err != nil {
			return err
		}
		if err := exists(store.KindPluginConfig, v.PluginConfigID, "plugin config"); err != nil {
			return err
		}
		if err := checkPlugins(v.Plugins); err != nil {
			return err
		}
	case *store.Service:
		if err := clientCertSSL(rd, v.Upstream, refs); err != nil {
			return err
		}
		if err := exists(store.KindUpstream, v.UpstreamID, "upstream"); err != nil {
			return err
		}
		if err := checkPlugins(v.Plugins); err != nil {
			return err
		}
	case *store.Consumer:
		if err := exists(store.KindConsumerGroup, v.GroupID, "consumer group"); err != nil {
			return err
		}
		// an auth plugin on a consumer carries its consumer config (key-auth: the key)
		if err := s.opts.Registry.DecodeAllConsumer(v.Plugins); err != nil {
			return bad("invalid plugins configuration: %v", err)
		}
		if err := s.checkHooks(rd, v.Plugins); err != nil {
			return err
		}
		if err := s.uniqueCredentials(rd, k, id, value); err != nil {
			return err
		}
	case *store.Credential:
		if err := s.validateCredential(rd, id, v, refs); err != nil {
			return err
		}
		if err := s.uniqueCredentials(rd, k, id, value); err != nil {
			return err
		}
	case *store.ConsumerGroup:
		if err := checkPlugins(v.Plugins); err != nil {
			return err
		}
	case *store.PluginConfig:
		if err := checkPlugins(v.Plugins); err != nil {
			return err
		}
	case *store.GlobalRule:
		if err := checkPlugins(v.Plugins); err != nil {
			return err
		}
		if err := uniqueGlobalPlugins(rd, id, v.Plugins); err != nil {
			return err
		}
	}
	if k == store.KindPluginMetadata {
		if _, ok := s.opts.Registry.Lookup(id); !ok {
			return bad("invalid plugin name")
		}
	}
	if s.opts.Validate != nil {
		if err := s.opts.Validate(k, obj); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// uniqueGlobalPlugins refuses a plugin another global rule already runs (APISIX 3.15+).
func uniqueGlobalPlugins(rd store.Reader, id string, p store.Plugins) error {
	rules, err := rd.List(store.KindGlobalRule)
	if err != nil {
		return err
	}
	for _, it := range rules {
		if it.ID == id {
			continue
		}
		var other struct {
			Plugins map[string]json.RawMessage `json:"plugins"`
		}
		if json.Unmarshal(it.Value, &other) != nil {
			continue
		}
		names := make([]string, 0, len(p))
		for n := range p {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			if _, ok := other.Plugins[n]; ok {
				return bad("plugin '%s' already exists in global rule with id '%s'", n, it.ID)
			}
		}
	}
	return nil
}

// clientCertSSL checks the ssl an upstream's tls.client_cert_id names: it must exist and
// be of type client, with APISIX's words. u may be nil.
func clientCertSSL(rd store.Reader, u *store.Upstream, refs bool) error {
	if u == nil || u.TLS == nil || u.TLS.ClientCertID == "" || !refs {
		return nil
	}
	id := string(u.TLS.ClientCertID)
	it, err := rd.Get(store.KindSSL, id)
	if errors.Is(err, store.ErrNotFound) {
		return bad("failed to fetch ssl info by ssl id [%s], response code: 404", id)
	} else if err != nil {
		return fmt.Errorf("read ssl %s: %w", id, err)
	}
	var ssl struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(it.Value, &ssl); err != nil {
		return fmt.Errorf("read ssl %s: %w", id, err)
	}
	if ssl.Type != "client" {
		return bad("failed to fetch ssl info by ssl id [%s], wrong ssl type", id)
	}
	return nil
}

// sslType is the type of the stored ssl id; "" when there is none or it cannot be read.
func sslType(rd store.Reader, id string) string {
	it, err := rd.Get(store.KindSSL, id)
	if err != nil {
		return ""
	}
	var ssl struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(it.Value, &ssl) != nil {
		return ""
	}
	return ssl.Type
}

// tlsRef is what clientCertUsers reads of an upstream.
type tlsRef struct {
	TLS *struct {
		ClientCertID store.ID `json:"client_cert_id"`
	} `json:"tls"`
}

// clientCertUsers refuses to <verb> ssl id (delete it, or make it a server certificate)
// while an upstream, or a route's or service's inline upstream, names it in
// tls.client_cert_id.
func clientCertUsers(rd store.Reader, id, verb string) error {
	for _, k := range []store.Kind{store.KindUpstream, store.KindRoute, store.KindService} {
		items, err := rd.List(k)
		if err != nil {
			return err
		}
		for _, it := range items {
			var v struct {
				tlsRef
				Upstream *tlsRef `json:"upstream"`
			}
			if json.Unmarshal(it.Value, &v) != nil {
				continue
			}
			ref := &v.tlsRef
			if k != store.KindUpstream {
				ref = v.Upstream
			}
			if ref != nil && ref.TLS != nil && string(ref.TLS.ClientCertID) == id {
				return bad("can not %s this ssl, %s [%s] is still using it now", verb, k.Singular(), it.ID)
			}
		}
	}
	return nil
}
