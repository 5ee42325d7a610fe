package builtin_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/builtin"
)

var jsonBlock = regexp.MustCompile("(?s)```json\n(.*?)```")

// TestReadmes checks every plugin's README: it exists, states the plugin's priority, and
// every json block in it is a config the plugin accepts (alone, or inside "plugins" of a
// route, service, consumer or global rule).
func TestReadmes(t *testing.T) {
	reg := plugins.NewRegistry(builtin.Specs...)
	for _, spec := range builtin.Specs {
		t.Run(spec.Name, func(t *testing.T) {
			dir := strings.ReplaceAll(spec.Name, "-", "")
			b, err := os.ReadFile(filepath.Join("..", dir, "README.md"))
			if err != nil {
				t.Fatalf("README: %v", err)
			}
			text := string(b)
			if !strings.HasPrefix(text, "# "+spec.Name) {
				t.Errorf("README must open with %q", "# "+spec.Name)
			}
			if !strings.Contains(text, strconv.Itoa(spec.Priority)) {
				t.Errorf("README does not state the priority %d", spec.Priority)
			}
			for i, m := range jsonBlock.FindAllStringSubmatch(text, -1) {
				if err := checkBlock(reg, spec.Name, []byte(m[1])); err != nil {
					t.Errorf("json block %d: %v\n%s", i+1, err, m[1])
				}
			}
		})
	}
}

func checkBlock(reg *plugins.Registry, name string, raw []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		// a response body shown in the README may be any JSON value
		var v any
		return json.Unmarshal(raw, &v)
	}
	if ps, ok := obj["plugins"]; ok {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(ps, &m); err != nil {
			return err
		}
		_, isConsumer := obj["username"]
		for n, cfg := range m {
			var err error
			if isConsumer {
				_, err = reg.DecodeConsumer(n, cfg)
			} else {
				_, err = reg.Decode(n, cfg)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	_, err := reg.Decode(name, raw)
	if err == nil {
		return nil
	}
	if _, cerr := reg.DecodeConsumer(name, raw); cerr == nil {
		return nil
	}
	// a response body shown in the README: an error body, or a mock's example
	for _, k := range []string{"message", "error_msg", "args", "headers", "url", "data"} {
		if _, ok := obj[k]; ok {
			return nil
		}
	}
	return err
}
