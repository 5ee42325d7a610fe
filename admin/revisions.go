package admin

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/portico-gw/portico/store"
)

// revisions lists the change log, newest first: ?page=&page_size= (10–500, default 50
// entries on page 1) or ?before=<rev> for the entries older than a revision.
func (s *Server) revisions(w http.ResponseWriter, r *http.Request) {
	h, ok := s.opts.Store.History()
	if !ok {
		writeError(w, http.StatusNotImplemented, "this store keeps no history")
		return
	}
	q := r.URL.Query()
	size, page := 50, 1
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 || n > 500 {
			writeError(w, http.StatusBadRequest, "page_size must be between 10 and 500")
			return
		}
		size = n
	}
	if v := q.Get("page"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 1 {
			page = n
		}
	}
	var before int64
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "invalid argument before: want a revision")
			return
		}
		before = n
	}
	revs, total, err := h.Revisions(r.Context(), before, page*size)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	from := min((page-1)*size, len(revs))
	list := revs[from:]
	for i := range list {
		list[i] = hideSecrets(list[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"list": list, "total": total, "revision": s.opts.Store.Revision()})
}

// revision shows one entry of the change log, before and after each change.
func (s *Server) revision(w http.ResponseWriter, r *http.Request) {
	h, ok := s.opts.Store.History()
	if !ok {
		writeError(w, http.StatusNotImplemented, "this store keeps no history")
		return
	}
	rev, _ := strconv.ParseInt(mux.Vars(r)["rev"], 10, 64)
	one, err := h.RevisionAt(r.Context(), rev)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, hideSecrets(one))
}

// rollback restores the configuration as it was at a revision, as one new revision.
func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	rev, _ := strconv.ParseInt(mux.Vars(r)["rev"], 10, 64)
	newRev, err := s.opts.Store.Rollback(r.Context(), rev)
	switch {
	case errors.Is(err, store.ErrCompacted), errors.Is(err, store.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	s.opts.Log.Info("configuration rolled back", "to_revision", rev, "revision", newRev)
	writeJSON(w, http.StatusOK, map[string]any{"rolled_back_to": rev, "revision": newRev})
}

// hideSecrets strips SSL private keys from a revision's values.
func hideSecrets(rv store.Revision) store.Revision {
	for i, c := range rv.Changes {
		if c.Kind != store.KindSSL {
			continue
		}
		if c.Before != nil {
			rv.Changes[i].Before = publicValue(store.Item{Kind: store.KindSSL, Value: c.Before})
		}
		if c.After != nil {
			rv.Changes[i].After = publicValue(store.Item{Kind: store.KindSSL, Value: c.After})
		}
	}
	return rv
}
