package clientcontrol

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		cfg  string
		want string // "" accepted, else a part of the error
	}{
		{`{}`, ""},
		{`{"max_body_size":0}`, ""},
		{`{"max_body_size":1048576}`, ""},
		{`{"max_body_size":-1}`, "expected -1 to be at least 0"},
		{`{"max_body_size":1.5}`, "max_body_size"},
		{`{"max_body_size":"10"}`, "max_body_size"},
		{`{"max_body":10}`, "unknown field"},
	}
	for _, tt := range tests {
		_, err := pluginstest.TryBuild(Spec, tt.cfg)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tt.cfg, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err = %v, want it to contain %q", tt.cfg, err, tt.want)
		}
	}
}

// chunked sets a body of unknown length, as a chunked request has.
func chunked(s string) pluginstest.Option {
	return func(r *http.Request, c *plugins.Ctx) {
		r.Body = io.NopCloser(strings.NewReader(s))
		r.ContentLength = -1
	}
}

func TestRewrite(t *testing.T) {
	tests := []struct {
		name    string
		cfg     string
		body    pluginstest.Option
		want    int  // 0: the request goes on
		readErr bool // reading the body (after Rewrite) fails with *http.MaxBytesError
	}{
		{"length over the limit", `{"max_body_size":4}`, pluginstest.Body("12345"), 413, false},
		{"length at the limit", `{"max_body_size":5}`, pluginstest.Body("12345"), 0, false},
		{"no body", `{"max_body_size":1}`, pluginstest.Body(""), 0, false},
		{"chunked over the limit is cut", `{"max_body_size":4}`, chunked("12345"), 0, true},
		{"chunked at the limit", `{"max_body_size":5}`, chunked("12345"), 0, false},
		{"zero is no limit", `{"max_body_size":0}`, pluginstest.Body(strings.Repeat("x", 1<<20)), 0, false},
		{"absent is no limit", `{}`, chunked(strings.Repeat("x", 1<<20)), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			c := pluginstest.Ctx(t, pluginstest.Method("POST"), tt.body)
			got := p.Rewrite(c)
			if got.Status != tt.want {
				t.Fatalf("Rewrite = %d, want %d", got.Status, tt.want)
			}
			if got.Status != 0 {
				if string(got.Body) != string(TooLarge) {
					t.Errorf("body = %s, want %s", got.Body, TooLarge)
				}
				return
			}
			_, err := io.ReadAll(c.R.Body)
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) != tt.readErr {
				t.Errorf("read body: err = %v, want a MaxBytesError: %v", err, tt.readErr)
			}
		})
	}
}
