package builtin_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/builtin"
)

// noBuild are the plugins whose Build touches the outside (files, sockets, processes):
// the fuzz target decodes their configs but does not build them.
var noBuild = map[string]bool{
	"file-logger": true, "http-logger": true, "ext-plugin-pre-req": true, "ext-plugin-post-req": true,
	"limit-conn": true, "limit-count": true, "limit-req": true, "prometheus": true,
}

// FuzzDecode is the Admin API's check of one plugin config, for every built-in plugin,
// as a route's and as a consumer's: any bytes decode to a config or an error, never a
// panic, and a config that decodes (and is not stored disabled) builds or errors, never
// panics. Seeds: every json block of every plugin README.
func FuzzDecode(f *testing.F) {
	specs := builtin.Specs
	for i, spec := range specs {
		f.Add(uint8(i), []byte(`{}`))
		f.Add(uint8(i), []byte(`{"_meta":{"disable":true,"filter":[["arg_x","==","1"]],"error_response":{"m":1}}}`))
		b, _ := os.ReadFile(filepath.Join("..", strings.ReplaceAll(spec.Name, "-", ""), "README.md")) // TestReadmes checks it exists
		for _, m := range jsonBlock.FindAllSubmatch(b, -1) {
			f.Add(uint8(i), m[1])
		}
	}
	reg := plugins.NewRegistry(specs...)
	f.Fuzz(func(t *testing.T, si uint8, raw []byte) {
		spec := specs[int(si)%len(specs)]
		for i, decode := range []func(string, json.RawMessage) (*plugins.Decoded, error){reg.Decode, reg.DecodeConsumer} {
			d, err := decode(spec.Name, raw)
			if err != nil || d.Config == nil || noBuild[spec.Name] || spec.Build == nil {
				continue
			}
			if i == 1 && spec.NewConsumerConfig != nil {
				continue // a consumer's config is indexed, not built
			}
			inst, err := spec.Build(d.Config)
			if err != nil {
				continue
			}
			if c, ok := inst.(plugins.Closer); ok {
				c.Close()
			}
		}
	})
}
