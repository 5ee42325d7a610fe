package store

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeKind is the Admin API's decode path for every kind: any bytes decode to a
// value or an error, never a panic, and a value that decodes re-encodes to JSON that
// decodes again (what the store keeps is readable back).
func FuzzDecodeKind(f *testing.F) {
	kinds := append(append([]Kind(nil), Kinds...), KindCredential)
	seeds := map[Kind][]string{
		KindRoute: {
			`{"uri":"/a","upstream":{"nodes":{"127.0.0.1:80":1}}}`,
			`{"uris":["/a","/b/*"],"methods":["GET"],"hosts":["*.a.com"],"vars":[["arg_x","==","1"]],"upstream_id":1,"plugins":{"key-auth":{}}}`,
			`{"uri":"/","remote_addrs":["10.0.0.0/8"],"timeout":{"connect":1,"send":1,"read":1},"upstream_id":"1"}`,
		},
		KindService:        {`{"upstream":{"nodes":[{"host":"::1","port":80,"weight":1}]},"hosts":["a.com"]}`},
		KindUpstream:       {`{"nodes":{"[::1]:80":1},"type":"chash","hash_on":"header","key":"x","checks":{"active":{"http_path":"/"}}}`, `{"nodes":[{"host":"a","port":80,"weight":1,"priority":-1}],"retries":2,"scheme":"https"}`},
		KindConsumer:       {`{"username":"jack","plugins":{"key-auth":{"key":"k"}},"group_id":"g"}`},
		KindConsumerGroup:  {`{"plugins":{"limit-count":{"count":1,"time_window":60}}}`},
		KindPluginConfig:   {`{"plugins":{"cors":{}}}`},
		KindGlobalRule:     {`{"plugins":{"prometheus":{}}}`},
		KindSSL:            {`{"cert":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----","key":"k","snis":["*.a.com"]}`},
		KindCredential:     {`{"plugins":{"key-auth":{"key":"k"}}}`},
		KindPluginMetadata: {`{"log_format":{"host":"$host"}}`},
		KindWasmModule:     {`{"name":"m"}`},
	}
	for i, k := range kinds {
		for _, s := range seeds[k] {
			f.Add(uint8(i), []byte(s))
		}
		f.Add(uint8(i), []byte(`{"id":1e400,"x":[[[[{}]]]],"":null}`))
	}
	f.Fuzz(func(t *testing.T, ki uint8, raw []byte) {
		k := kinds[int(ki)%len(kinds)]
		v, err := DecodeKind(k, raw)
		if err != nil {
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: decoded %q but cannot encode it: %v", k, raw, err)
		}
		if _, err := DecodeKind(k, b); err != nil {
			t.Fatalf("%s: decoded %q, re-encoded as %s, which does not decode: %v", k, raw, b, err)
		}
	})
}
