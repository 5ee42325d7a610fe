package queryarg

import "testing"

func TestRemove(t *testing.T) {
	for raw, want := range map[string]string{
		"":                    "",
		"apikey=1":            "",
		"a=1&apikey=2&b=3":    "a=1&b=3",
		"a=1&b=2":             "a=1&b=2",
		"apikey&a=1":          "a=1",
		"api%6Bey=1&a=%20":    "a=%20",
		"apikeys=1&xapikey=2": "apikeys=1&xapikey=2",
	} {
		if got := Remove(raw, "apikey"); got != want {
			t.Errorf("Remove(%q) = %q, want %q", raw, got, want)
		}
	}
}
