package regexsub

import (
	"regexp"
	"strings"
	"testing"
)

func TestReplacement(t *testing.T) {
	re := regexp.MustCompile(`(a)(b)?`)
	tests := []struct{ tpl, src, want string }{
		{"<$1>", "xa", "<a>"},
		{"${1}1", "a", "a1"},
		{"$$1", "a", "$1"},
		{"[$2][$9]", "a", "[][]"}, // unmatched and missing groups give nothing
	}
	for _, tt := range tests {
		r, err := Compile(tt.tpl)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.tpl, err)
		}
		m := re.FindStringSubmatchIndex(tt.src)
		var b strings.Builder
		r.WriteString(&b, tt.src, m)
		if got := string(r.Append(nil, []byte(tt.src), m)); got != tt.want || b.String() != tt.want {
			t.Errorf("%q on %q = %q / %q, want %q", tt.tpl, tt.src, got, b.String(), tt.want)
		}
	}
	for _, bad := range []string{"$x", "${1", "$", "${}"} {
		if _, err := Compile(bad); err != ErrBadCapture {
			t.Errorf("Compile(%q) = %v, want ErrBadCapture", bad, err)
		}
	}
}
