package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
)

// explain answers POST /apisix/admin/explain: which route a described request gets, why
// the others do not match, and the plugin chain per phase (Options.Explain).
func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	if s.opts.Explain == nil {
		writeError(w, http.StatusNotImplemented, "explain is not available on this node")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, http.StatusBadRequest, "invalid request body: empty body")
		return
	}
	if !json.Valid(body) {
		writeError(w, http.StatusBadRequest, "invalid request body: not JSON")
		return
	}
	out, err := s.opts.Explain(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}
