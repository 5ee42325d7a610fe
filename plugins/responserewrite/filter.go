package responserewrite

import (
	"regexp"

	"github.com/portico-gw/portico/plugins/internal/regexsub"
)

// filter is one compiled `filters` item.
type filter struct {
	re     *regexp.Regexp
	rep    *regexsub.Replacement
	global bool
}

// apply replaces the first match, or every match, of f in body. It returns body itself
// when nothing matched.
func (f *filter) apply(body []byte) []byte {
	if !f.global {
		m := f.re.FindSubmatchIndex(body)
		if m == nil {
			return body
		}
		out := make([]byte, 0, len(body))
		out = append(out, body[:m[0]]...)
		out = f.rep.Append(out, body, m)
		return append(out, body[m[1]:]...)
	}
	all := f.re.FindAllSubmatchIndex(body, -1)
	if all == nil {
		return body
	}
	out := make([]byte, 0, len(body))
	last := 0
	for _, m := range all {
		out = append(out, body[last:m[0]]...)
		out = f.rep.Append(out, body, m)
		last = m[1]
	}
	return append(out, body[last:]...)
}
