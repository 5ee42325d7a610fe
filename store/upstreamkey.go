package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// UpstreamKey fingerprints what u does: the sha256 of its canonical JSON without the
// metadata (id, name, desc, labels, create_time, update_time). Writing an upstream again
// with the same configuration keeps its key, and an upstream written inline in a plugin
// (traffic-split) has the key the proxy compiled it under. json.Marshal compacts the raw
// fields (checks), so whitespace does not change the key.
func UpstreamKey(u *Upstream) string {
	c := *u
	c.Meta = Meta{}
	raw, _ := json.Marshal(&c)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}
