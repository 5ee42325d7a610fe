package proxy

import "testing"

func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"/", "/", nil},
		{"", "/", nil},
		{"/a/b", "/a/b", nil},
		{"/a/b/", "/a/b/", nil},
		{"//a///b", "/a/b", nil},
		{"/a/./b", "/a/b", nil},
		{"/a/../b", "/b", nil},
		{"/a/b/..", "/a/", nil},
		{"/a/%2e%2e/b", "/b", nil},
		{"/a/%2E%2e/%2e/b", "/b", nil},
		{"/a%2Fb", "/a/b", nil},
		{"/admin%2f..%2fpublic", "/public", nil},
		{"/a%20b", "/a b", nil},
		{"/..", "", errAboveRoot},
		{"/a/../..", "", errAboveRoot},
		{"/%2e%2e/etc", "", errAboveRoot},
		{"/a%00b", "", errNUL},
		{"/a%zz", "", errBadEscape},
		{"/a%2", "", errBadEscape},
		{"a", "", errNotOrigin},
		{"/.well-known/x", "/.well-known/x", nil},
		{"/a/..b", "/a/..b", nil},
	}
	for _, tt := range tests {
		got, err := canonicalPath(tt.in)
		if err != tt.err || got != tt.want {
			t.Errorf("canonicalPath(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestCanonicalPathNoAllocWhenCanonical(t *testing.T) {
	n := testing.AllocsPerRun(100, func() { canonicalPath("/api/v1/users/42") })
	if n != 0 {
		t.Errorf("allocs = %v, want 0", n)
	}
}

func TestEscapePath(t *testing.T) {
	for in, want := range map[string]string{"/a/b": "/a/b", "/a b": "/a%20b", "/a?b": "/a%3Fb", "/é": "/%C3%A9", "/a%b": "/a%25b"} {
		if got := escapePath(in); got != want {
			t.Errorf("escapePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/a/../b", "//x", "/%2e%2e/", "/a%00", "/a/./b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := canonicalPath(in)
		if err != nil {
			return
		}
		again, err := canonicalPath(escapePath(got))
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", in, got, again, err)
		}
	})
}
