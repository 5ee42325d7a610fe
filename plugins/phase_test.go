package plugins

import "testing"

// TestJSONBody: APISIX's core.response.exit bodies: cjson leaves '<', '>' and '&' as they
// are and a newline follows (t/plugin/key-auth.t, t/plugin/ip-restriction.t).
func TestJSONBody(t *testing.T) {
	tests := []struct{ field, msg, want string }{
		{"message", "Missing API key in request", `{"message":"Missing API key in request"}` + "\n"},
		{"message", "x & y <z>", `{"message":"x & y <z>"}` + "\n"},
		{"error_msg", "quote \" and \\ and \n", `{"error_msg":"quote \" and \\ and \n"}` + "\n"},
		{"message", "", `{"message":""}` + "\n"},
	}
	for _, tt := range tests {
		if got := string(JSONBody(tt.field, tt.msg)); got != tt.want {
			t.Errorf("JSONBody(%q, %q) = %q, want %q", tt.field, tt.msg, got, tt.want)
		}
	}
}
