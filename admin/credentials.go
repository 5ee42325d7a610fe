package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/store"
)

// credentials serves /apisix/admin/consumers/{username}/credentials[/{id}]: one auth
// plugin config per credential, kept under its consumer as APISIX 3.x does.
func (s *Server) credentials(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	user, cid := unescape(v["user"]), unescape(v["cid"])
	if err := store.ValidKindID(store.KindConsumer, user); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if cid != "" {
		if err := store.ValidID(cid); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	switch r.Method {
	case http.MethodGet:
		if cid != "" {
			it, err := s.opts.Store.Get(r.Context(), store.KindCredential, store.CredentialID(user, cid))
			if err != nil {
				s.fail(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, envelope(it, true))
			return
		}
		items, _, err := s.opts.Store.List(r.Context(), store.KindCredential, store.Query{})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		list := []map[string]any{}
		for _, it := range items {
			if strings.HasPrefix(it.ID, user+"/") {
				list = append(list, envelope(it, true))
			}
		}
		if len(list) == 0 {
			// APISIX reads the list as an etcd prefix; with no key under it, that is
			// "Key not found" (t/admin/credentials.t TEST 13), consumer or not
			s.fail(w, r, store.ErrNotFound)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"list": list, "total": len(list)})
	case http.MethodPut:
		m, err := readObject(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := checkForbiddenTimes(m); err != nil {
			s.fail(w, r, err)
			return
		}
		bid, has, err := bodyID(m, "id")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		switch {
		case cid == "" && !has:
			s.fail(w, r, bad("missing credential id"))
			return
		case cid == "":
			cid = bid
		case has && bid != cid:
			s.fail(w, r, bad("wrong credential id"))
			return
		}
		if err := store.ValidID(cid); err != nil {
			s.fail(w, r, bad("%v", err))
			return
		}
		m["id"], _ = json.Marshal(cid)
		value, _ := json.Marshal(m)
		id := store.CredentialID(user, cid)
		check := s.checkWrite(store.KindCredential, id, dryRun(r))
		it, created, err := s.opts.Store.Put(r.Context(), store.KindCredential, id, value, func(rd store.Reader) error { return check(rd, value) })
		if err != nil && !errors.Is(err, store.ErrDryRun) {
			s.fail(w, r, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		writeJSON(w, status, envelope(it, false))
	case http.MethodDelete:
		if cid == "" {
			s.fail(w, r, bad("missing credential id"))
			return
		}
		id := store.CredentialID(user, cid)
		if _, err := s.opts.Store.Delete(r.Context(), store.KindCredential, id, nil); err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"deleted": "1", "key": store.Key(store.KindCredential, id)})
	default:
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("not supported `%s` method for credential", r.Method))
	}
}

// validateCredential checks a credential: its consumer exists, it holds one auth plugin
// with a valid consumer-side config.
func (s *Server) validateCredential(rd store.Reader, id string, c *store.Credential, refs bool) error {
	user, _, _ := strings.Cut(id, "/")
	if refs {
		if _, err := rd.Get(store.KindConsumer, user); errors.Is(err, store.ErrNotFound) {
			return &notFound{"consumer not found"}
		} else if err != nil {
			return err
		}
	}
	for name, raw := range c.Plugins {
		spec, ok := s.opts.Registry.Lookup(name)
		if !ok {
			return bad("unknown plugin [%s]", name)
		}
		if spec.Type != "auth" {
			return bad("only supports auth type plugins in consumer credential")
		}
		if _, err := s.opts.Registry.DecodeConsumer(name, raw); err != nil {
			return bad("invalid plugins configuration: %v", err)
		}
	}
	return nil
}

// notFound is a 404 answered with error_msg (not APISIX's "Key not found" shape).
type notFound struct{ msg string }

func (e *notFound) Error() string { return e.msg }

// uniqueCredentials refuses a credential (key-auth key, basic-auth username, …) that
// another consumer or credential already holds, its own consumer's included (APISIX
// 3.18, t/admin/credentials.t TESTs 23-24), by building each auth plugin's index over
// the configuration as it would be after the write.
func (s *Server) uniqueCredentials(rd store.Reader, k store.Kind, id string, value json.RawMessage) error {
	type source struct {
		user, credID string
		plugins      store.Plugins
		written      bool
	}
	var sources []source
	consumers, err := rd.List(store.KindConsumer)
	if err != nil {
		return err
	}
	for _, it := range consumers {
		if k == store.KindConsumer && it.ID == id {
			continue
		}
		c, err := store.Decode[store.Consumer](it.Value)
		if err == nil {
			sources = append(sources, source{user: c.Username, plugins: c.Plugins})
		}
	}
	creds, err := rd.List(store.KindCredential)
	if err != nil {
		return err
	}
	for _, it := range creds {
		if k == store.KindCredential && it.ID == id {
			continue
		}
		c, err := store.Decode[store.Credential](it.Value)
		if err == nil {
			user, cid, _ := strings.Cut(it.ID, "/")
			sources = append(sources, source{user: user, credID: cid, plugins: c.Plugins})
		}
	}
	// the value being written comes last, so a duplicate names the one it clashes with
	var mine store.Plugins
	user, cid := id, ""
	switch k {
	case store.KindConsumer:
		c, err := store.Decode[store.Consumer](value)
		if err != nil {
			return nil
		}
		mine, user = c.Plugins, c.Username
	case store.KindCredential:
		c, err := store.Decode[store.Credential](value)
		if err != nil {
			return nil
		}
		mine = c.Plugins
		user, cid, _ = strings.Cut(id, "/")
	}
	sources = append(sources, source{user: user, credID: cid, plugins: mine, written: true})
	for name := range mine {
		spec, ok := s.opts.Registry.Lookup(name)
		if !ok || spec.Type != "auth" || spec.Index == nil {
			continue
		}
		var entries []plugins.AuthEntry
		for _, src := range sources {
			raw, ok := src.plugins[name]
			if !ok {
				continue
			}
			d, err := s.opts.Registry.DecodeConsumer(name, raw)
			if err != nil || d.Config == nil {
				continue
			}
			entries = append(entries, plugins.AuthEntry{Consumer: &plugins.Consumer{Username: src.user}, Config: d.Config, CredentialID: src.credID, Written: src.written})
		}
		if _, err := spec.Index(entries); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}
