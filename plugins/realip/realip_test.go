package realip

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var _ plugins.RewritePhase = (*Plugin)(nil)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		want string // substring of the error; "" means accepted
	}{
		{"header", `{"source":"http_x_forwarded_for"}`, ""},
		{"all fields", `{"source":"http_x_forwarded_for","trusted_addresses":["127.0.0.1","10.0.0.0/8","::1","fe80::/16"],"recursive":true}`, ""},
		{"missing source", `{"trusted_addresses":["127.0.0.1"]}`, `property "source" is required`},
		{"empty source", `{"source":""}`, `property "source" validation failed: string too short, expected at least 1, got 0`},
		{"not an ip", `{"source":"arg_ip","trusted_addresses":["127.0.0.1","127.0.0.1/33"]}`, `property "trusted_addresses" validation failed: failed to validate item 2: object matches none of the required`},
		{"bad v6 mask", `{"source":"arg_ip","trusted_addresses":["::1/129"]}`, "invalid ip address: ::1/129"},
		{"empty trusted", `{"source":"arg_ip","trusted_addresses":[]}`, "expect array to have at least 1 items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pluginstest.TryBuild(Spec, tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRewrite(t *testing.T) {
	const xff = "X-Forwarded-For"
	tests := []struct {
		name   string
		cfg    string
		peer   string   // the connection's address; "": 127.0.0.1
		target string   // "": /
		xff    []string // X-Forwarded-For lines
		real   string   // the Remote.Addr wanted; "": unchanged
		port   uint16   // 0: unchanged
	}{
		{"single", `{"source":"http_x_forwarded_for"}`, "", "", []string{"1.2.3.4"}, "1.2.3.4", 0},
		{"last of a list", `{"source":"http_x_forwarded_for"}`, "", "", []string{"1.1.1.1, 2.2.2.2,  3.3.3.3"}, "3.3.3.3", 0},
		{"last line", `{"source":"http_x_forwarded_for"}`, "", "", []string{"1.1.1.1", "2.2.2.2"}, "2.2.2.2", 0},
		{"with port", `{"source":"http_x_forwarded_for"}`, "", "", []string{"1.2.3.4:8080"}, "1.2.3.4", 8080},
		{"ipv6 with port", `{"source":"http_x_forwarded_for"}`, "", "", []string{"[::2]:8080"}, "::2", 8080},
		{"ipv6 bracketed", `{"source":"http_x_forwarded_for"}`, "", "", []string{"[::2]"}, "::2", 0},
		{"ipv6 bare", `{"source":"http_x_forwarded_for"}`, "", "", []string{"2001:db8::68"}, "2001:db8::68", 0},
		{"bad port", `{"source":"http_x_forwarded_for"}`, "", "", []string{"1.2.3.4:0"}, "", 0},
		{"port too big", `{"source":"http_x_forwarded_for"}`, "", "", []string{"1.2.3.4:65536"}, "", 0},
		{"not an ip", `{"source":"http_x_forwarded_for"}`, "", "", []string{"localhost"}, "", 0},
		{"missing", `{"source":"http_x_forwarded_for"}`, "", "", nil, "", 0},
		{"query argument", `{"source":"arg_realip"}`, "", "/?realip=1.2.3.4:1234", nil, "1.2.3.4", 1234},
		{"other header", `{"source":"http_x_real_ip"}`, "", "", nil, "", 0},
		{"trusted peer", `{"source":"http_x_forwarded_for","trusted_addresses":["127.0.0.0/8"]}`, "", "", []string{"1.2.3.4"}, "1.2.3.4", 0},
		{"untrusted peer", `{"source":"http_x_forwarded_for","trusted_addresses":["10.0.0.0/8"]}`, "", "", []string{"1.2.3.4"}, "", 0},
		{"not recursive takes last", `{"source":"http_x_forwarded_for","trusted_addresses":["127.0.0.1","10.0.0.0/8"]}`, "", "", []string{"1.1.1.1, 2.2.2.2, 10.0.0.1"}, "10.0.0.1", 0},
		{"recursive skips trusted", `{"source":"http_x_forwarded_for","trusted_addresses":["127.0.0.1","10.0.0.0/8"],"recursive":true}`, "", "", []string{"1.1.1.1, 2.2.2.2, 10.0.0.1,10.0.0.2"}, "2.2.2.2", 0},
		{"recursive all trusted", `{"source":"http_x_forwarded_for","trusted_addresses":["127.0.0.1","10.0.0.0/8"],"recursive":true}`, "", "", []string{"10.0.0.3, 10.0.0.1"}, "10.0.0.3", 0},
		{"recursive without trusted", `{"source":"http_x_forwarded_for","recursive":true}`, "", "", []string{"1.1.1.1, 2.2.2.2"}, "2.2.2.2", 0},
		{"v4-mapped peer trusted", `{"source":"http_x_forwarded_for","trusted_addresses":["192.0.2.0/24"]}`, "::ffff:192.0.2.1", "", []string{"1.2.3.4"}, "1.2.3.4", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			var opts []pluginstest.Option
			if tt.peer != "" {
				opts = append(opts, pluginstest.ClientAddr(tt.peer))
			}
			if tt.target != "" {
				opts = append(opts, pluginstest.Target(tt.target))
			}
			c := pluginstest.Ctx(t, opts...)
			for _, v := range tt.xff {
				c.R.Header.Add(xff, v)
			}
			before := c.Remote
			if r := p.Rewrite(c); r.Stopped() {
				t.Fatalf("Rewrite stopped with %d", r.Status)
			}
			want := before
			if tt.real != "" {
				port := before.Port()
				if tt.port != 0 {
					port = tt.port
				}
				want = netip.AddrPortFrom(netip.MustParseAddr(tt.real), port)
			}
			if c.Remote != want {
				t.Errorf("Remote = %v, want %v", c.Remote, want)
			}
			if tt.real != "" {
				if v, _ := c.Var("remote_addr"); v != tt.real {
					t.Errorf("remote_addr = %q, want %q", v, tt.real)
				}
			}
		})
	}
}
