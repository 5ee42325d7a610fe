package requestid

import (
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var (
	_ plugins.RewritePhase      = (*Plugin)(nil)
	_ plugins.HeaderFilterPhase = (*Plugin)(nil)
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		want string // substring of the error; "" means accepted
	}{
		{"defaults", `{}`, ""},
		{"all fields", `{"header_name":"X-Trace","include_in_response":false,"algorithm":"range_id","range_id":{"length":6,"char_set":"abcdef"}}`, ""},
		{"every algorithm", `{"algorithm":"ksuid"}`, ""},
		{"uuidv7", `{"algorithm":"uuidv7"}`, ""},
		{"bad algorithm", `{"algorithm":"bad_algorithm"}`, `property "algorithm" validation failed: matches none of the enum values`},
		{"bad include type", `{"include_in_response":"bad_type"}`, "cannot unmarshal"},
		{"short length", `{"algorithm":"range_id","range_id":{"length":5}}`, `property "length" validation failed: expected 5 to be at least 6`},
		{"short char_set", `{"algorithm":"range_id","range_id":{"char_set":"abc"}}`, `property "char_set" validation failed: string too short, expected at least 6, got 3`},
		{"unknown range_id field", `{"range_id":{"size":8}}`, "unknown field"},
		{"empty header name", `{"header_name":""}`, `property "header_name" validation failed`},
		{"bad header name", `{"header_name":"X Id"}`, `property "header_name" validation failed`},
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

func TestRequestID(t *testing.T) {
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	uuid7 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	tests := []struct {
		name     string
		cfg      string
		header   string         // the header the id goes in
		incoming string         // the client's id; "" none
		upstream string         // the response's id before header_filter; "" none
		want     *regexp.Regexp // the request's id
		respond  string         // "": the request's id; "-": no header
	}{
		{"uuid", `{}`, "X-Request-Id", "", "", uuid4, ""},
		{"nanoid", `{"algorithm":"nanoid"}`, "X-Request-Id", "", "", regexp.MustCompile(`^[-_0-9a-zA-Z]{21}$`), ""},
		{"range_id default", `{"algorithm":"range_id"}`, "X-Request-Id", "", "", regexp.MustCompile(`^[a-zA-Z0-9]{16}$`), ""},
		{"range_id custom", `{"algorithm":"range_id","range_id":{"length":10,"char_set":"abcdef"}}`, "X-Request-Id", "", "", regexp.MustCompile(`^[a-f]{10}$`), ""},
		{"ksuid", `{"algorithm":"ksuid"}`, "X-Request-Id", "", "", regexp.MustCompile(`^[0-9A-Za-z]{27}$`), ""},
		{"uuidv7", `{"algorithm":"uuidv7"}`, "X-Request-Id", "", "", uuid7, ""},
		{"incoming kept", `{}`, "X-Request-Id", "client-id", "", regexp.MustCompile(`^client-id$`), ""},
		{"custom header", `{"header_name":"Custom-Header-Name"}`, "Custom-Header-Name", "", "", uuid4, ""},
		{"not in response", `{"include_in_response":false}`, "X-Request-Id", "", "", uuid4, "-"},
		{"upstream id kept", `{}`, "X-Request-Id", "", "from-upstream", uuid4, "from-upstream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			var opts []pluginstest.Option
			if tt.incoming != "" {
				opts = append(opts, pluginstest.Header(tt.header, tt.incoming))
			}
			c := pluginstest.Ctx(t, opts...)
			if r := p.Rewrite(c); r.Stopped() {
				t.Fatalf("Rewrite stopped with %d", r.Status)
			}
			id := c.R.Header.Get(tt.header)
			if !tt.want.MatchString(id) {
				t.Fatalf("request id = %q, want %v", id, tt.want)
			}
			if tt.upstream != "" {
				c.W.Header().Set(tt.header, tt.upstream)
			}
			p.HeaderFilter(c)
			want := id
			switch tt.respond {
			case "-":
				want = ""
			case "":
			default:
				want = tt.respond
			}
			if got := c.W.Header().Get(tt.header); got != want {
				t.Errorf("response id = %q, want %q", got, want)
			}
		})
	}
}

func TestIDsDiffer(t *testing.T) {
	for _, alg := range []string{"uuid", "nanoid", "range_id", "ksuid", "uuidv7"} {
		p := pluginstest.Build(t, Spec, `{"algorithm":"`+alg+`"}`).(*Plugin)
		seen := map[string]bool{}
		for i := 0; i < 1000; i++ {
			id := p.newID()
			if seen[id] {
				t.Fatalf("%s: id %q repeated", alg, id)
			}
			seen[id] = true
		}
	}
}

func TestKSUID(t *testing.T) {
	tests := []struct{ raw, want string }{
		// segmentio/ksuid's README example.
		{"0669F7EFB5A1CD34B5F99D1154FB6853345C9735", "0ujtsYcgvSTl8PAuAdqWYSMnLOv"},
		{"0000000000000000000000000000000000000000", "000000000000000000000000000"},
		{"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "aWgEPTl1tmebfsQzFP4bxwgy80V"},
	}
	for _, tt := range tests {
		var raw [20]byte
		if _, err := hex.Decode(raw[:], []byte(tt.raw)); err != nil {
			t.Fatal(err)
		}
		if got := encodeKSUID(&raw); got != tt.want {
			t.Errorf("encodeKSUID(%s) = %s, want %s", tt.raw, got, tt.want)
		}
	}
	now := time.Unix(ksuidEpoch+107608047, 0)
	if got := ksuid(now); !strings.HasPrefix(got, "0ujts") {
		t.Errorf("ksuid at 107608047 = %s, want prefix 0ujts", got)
	}
}

func TestUUIDv7Time(t *testing.T) {
	now := time.UnixMilli(0x0189_1234_5678)
	if got := uuidV7(now); !strings.HasPrefix(got, "01891234-5678-7") {
		t.Errorf("uuidV7 = %s, want the timestamp first", got)
	}
}

func TestRewrite_hammer(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"algorithm":"range_id"}`).(*Plugin)
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				c := pluginstest.Ctx(t)
				p.Rewrite(c)
				p.HeaderFilter(c)
				if c.W.Header().Get("X-Request-Id") == "" {
					t.Error("no id")
					return
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
}
