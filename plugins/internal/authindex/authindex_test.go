package authindex

import (
	"testing"

	"github.com/portico-gw/portico/plugins"
)

func TestBuild(t *testing.T) {
	jack := &plugins.Consumer{Username: "jack"}
	rose := &plugins.Consumer{Username: "rose"}
	cred := func(a *plugins.AuthEntry) (string, bool) {
		c, ok := a.Config.(*conf)
		if !ok {
			return "", false
		}
		return c.key, true
	}
	val := func(a *plugins.AuthEntry) (string, error) { return a.Consumer.Username, nil }
	k := func(s string) plugins.Config { return &conf{key: s} }
	tests := []struct {
		name    string
		entries []plugins.AuthEntry
		err     string
	}{
		{"distinct", []plugins.AuthEntry{{Consumer: jack, Config: k("a")}, {Consumer: rose, Config: k("b")}}, ""},
		{"same consumer twice", []plugins.AuthEntry{{Consumer: jack, Config: k("a")}, {Consumer: jack, Config: k("a"), CredentialID: "c1"}}, ""},
		{"duplicate consumer", []plugins.AuthEntry{{Consumer: jack, Config: k("a")}, {Consumer: rose, Config: k("a")}},
			"duplicate key of plugin p found with consumer: jack"},
		{"duplicate credential", []plugins.AuthEntry{{Consumer: jack, Config: k("a"), CredentialID: "c1"}, {Consumer: rose, Config: k("a")}},
			"duplicate key of plugin p found with credential: c1 of consumer: jack"},
		{"same consumer twice, the second being written", []plugins.AuthEntry{{Consumer: jack, Config: k("a"), CredentialID: "c1"}, {Consumer: jack, Config: k("a"), CredentialID: "c2", Written: true}},
			"duplicate key of plugin p found with credential: c1 of consumer: jack"},
		{"same consumer twice, the inline key being written", []plugins.AuthEntry{{Consumer: jack, Config: k("a"), CredentialID: "c1"}, {Consumer: jack, Config: k("a"), Written: true}},
			"duplicate key of plugin p found with credential: c1 of consumer: jack"},
		{"wrong config", []plugins.AuthEntry{{Consumer: jack, Config: nil}}, "plugin p: consumer config of type <nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, err := Build("p", "key", tt.entries, cred, val)
			if tt.err == "" && err != nil {
				t.Fatal(err)
			}
			if tt.err != "" && (err == nil || err.Error() != tt.err) {
				t.Fatalf("Build() = %v, want %q", err, tt.err)
			}
			if tt.err == "" && idx["a"].Val != "jack" {
				t.Errorf(`idx["a"] = %q, want the first holder "jack"`, idx["a"].Val)
			}
		})
	}
}

type conf struct{ key string }

func (*conf) Validate() error { return nil }
