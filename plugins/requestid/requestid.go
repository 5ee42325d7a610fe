package requestid

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"time"

	"github.com/portico-gw/portico/plugins"
)

// Spec registers request-id.
var Spec = plugins.Spec{Name: "request-id", Priority: 12015,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// defaultCharSet is APISIX's range_id default, its "HIGK" typo included.
const defaultCharSet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIGKLMNOPQRSTUVWXYZ0123456789"

// Config is request-id's configuration. Nil pointers take APISIX's defaults.
type Config struct {
	HeaderName        *string  `json:"header_name,omitempty"`         // nil: "X-Request-Id"
	IncludeInResponse *bool    `json:"include_in_response,omitempty"` // nil: true
	Algorithm         string   `json:"algorithm,omitempty"`           // uuid (default), nanoid, range_id, ksuid, uuidv7
	RangeID           *RangeID `json:"range_id,omitempty"`
}

// RangeID configures the range_id algorithm.
type RangeID struct {
	Length  *int    `json:"length,omitempty"`   // ≥ 6; nil: 16
	CharSet *string `json:"char_set,omitempty"` // ≥ 6 characters; nil: letters and digits
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.HeaderName != nil && !isToken(*c.HeaderName) {
		return fmt.Errorf(`property "header_name" validation failed: %q is not a header name`, *c.HeaderName)
	}
	switch c.Algorithm {
	case "", "uuid", "nanoid", "range_id", "ksuid", "uuidv7":
	default:
		return errors.New(`property "algorithm" validation failed: matches none of the enum values`)
	}
	if r := c.RangeID; r != nil {
		if r.Length != nil && *r.Length < 6 {
			return fmt.Errorf(`property "range_id" validation failed: property "length" validation failed: expected %d to be at least 6`, *r.Length)
		}
		if r.CharSet != nil && len(*r.CharSet) < 6 {
			return fmt.Errorf(`property "range_id" validation failed: property "char_set" validation failed: string too short, expected at least 6, got %d`, len(*r.CharSet))
		}
	}
	return nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		switch c {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			continue
		}
		return false
	}
	return true
}

type algorithm int

const (
	algUUID algorithm = iota
	algNanoID
	algRangeID
	algKSUID
	algUUIDv7
)

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	header  string // canonical header name
	respond bool
	alg     algorithm
	length  int
	charSet string
}

// New builds the instance from a validated config.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{header: "X-Request-Id", respond: true, length: 16, charSet: defaultCharSet}
	if c.HeaderName != nil {
		p.header = http.CanonicalHeaderKey(*c.HeaderName)
	}
	if c.IncludeInResponse != nil {
		p.respond = *c.IncludeInResponse
	}
	switch c.Algorithm {
	case "nanoid":
		p.alg = algNanoID
	case "range_id":
		p.alg = algRangeID
	case "ksuid":
		p.alg = algKSUID
	case "uuidv7":
		p.alg = algUUIDv7
	}
	if r := c.RangeID; r != nil {
		if r.Length != nil {
			p.length = *r.Length
		}
		if r.CharSet != nil {
			p.charSet = *r.CharSet
		}
	}
	return p, nil
}

// Rewrite keeps a non-empty incoming id, else sets a new one on the request.
func (p *Plugin) Rewrite(c *plugins.Ctx) plugins.Result {
	if c.R.Header.Get(p.header) == "" {
		c.R.Header.Set(p.header, p.newID())
	}
	return plugins.Continue
}

// HeaderFilter echoes the id unless the response already carries one.
func (p *Plugin) HeaderFilter(c *plugins.Ctx) {
	if !p.respond {
		return
	}
	h := c.W.Header()
	if h.Get(p.header) != "" {
		return
	}
	if id := c.R.Header.Get(p.header); id != "" {
		h.Set(p.header, id)
	}
}

func (p *Plugin) newID() string {
	switch p.alg {
	case algNanoID:
		return nanoID()
	case algRangeID:
		b := make([]byte, p.length)
		for i := range b {
			b[i] = p.charSet[mrand.IntN(len(p.charSet))]
		}
		return string(b)
	case algKSUID:
		return ksuid(time.Now())
	case algUUIDv7:
		return uuidV7(time.Now())
	}
	return uuidV4()
}

const hexDigits = "0123456789abcdef"

func formatUUID(u *[16]byte) string {
	var b [36]byte
	j := 0
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexDigits[x>>4], hexDigits[x&0xf]
		j += 2
	}
	return string(b[:])
}

// uuidV4 is a random (version 4, RFC 9562) UUID.
func uuidV4() string {
	var u [16]byte
	crand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(&u)
}

// uuidV7 is a time-ordered (version 7) UUID: 48 bits of Unix milliseconds, then random.
func uuidV7(now time.Time) string {
	var u [16]byte
	crand.Read(u[6:])
	ms := uint64(now.UnixMilli())
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(&u)
}

const nanoAlphabet = "-_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// nanoID is 21 characters of the standard nanoid alphabet, 6 random bits each.
func nanoID() string {
	var b [21]byte
	crand.Read(b[:])
	for i, x := range b {
		b[i] = nanoAlphabet[x&63]
	}
	return string(b[:])
}

const (
	base62     = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	ksuidEpoch = 1400000000
)

// ksuid is a K-Sortable Unique ID: 4 bytes of seconds since 2014-05-13 and 16 random
// bytes, in base62, 27 characters.
func ksuid(now time.Time) string {
	var raw [20]byte
	binary.BigEndian.PutUint32(raw[:4], uint32(now.Unix()-ksuidEpoch))
	crand.Read(raw[4:])
	return encodeKSUID(&raw)
}

func encodeKSUID(raw *[20]byte) string {
	// The 160-bit number as five big-endian 32-bit words, divided by 62 repeatedly.
	var w [5]uint32
	for i := range w {
		w[i] = binary.BigEndian.Uint32(raw[i*4:])
	}
	var out [27]byte
	for i := len(out) - 1; i >= 0; i-- {
		var rem uint64
		for j := range w {
			cur := rem<<32 | uint64(w[j])
			w[j] = uint32(cur / 62)
			rem = cur % 62
		}
		out[i] = base62[rem]
	}
	return string(out[:])
}

var (
	_ plugins.RewritePhase      = (*Plugin)(nil)
	_ plugins.HeaderFilterPhase = (*Plugin)(nil)
)
