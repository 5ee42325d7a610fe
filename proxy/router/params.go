package router

// MaxParams is the most path parameters one pattern may capture; New refuses a pattern
// with more.
const MaxParams = 16

// Params holds what a match recorded: the captured path parameters, the matched pattern
// (APISIX's curr_req_matched._path) and the matched host pattern (_host). It is a fixed
// array, so filling it never allocates; the caller owns it and may pool it. Values are
// substrings of Request.Path and are valid as long as that string is.
//
// The zero value is empty and ready to use.
type Params struct {
	n       int
	names   [MaxParams]string
	values  [MaxParams]string
	pattern string
	host    string
}

// Get returns the value captured under name. If a pattern repeats a name, the last
// capture wins, as it overwrites the earlier one in APISIX's curr_req_matched.
func (p *Params) Get(name string) (string, bool) {
	for i := p.n - 1; i >= 0; i-- {
		if p.names[i] == name {
			return p.values[i], true
		}
	}
	return "", false
}

// Len is the number of captured parameters.
func (p *Params) Len() int { return p.n }

// At returns the i-th capture in pattern order; it panics unless 0 <= i < Len().
func (p *Params) At(i int) (name, value string) {
	return p.names[:p.n][i], p.values[:p.n][i]
}

// Pattern is the URI pattern of the matched route as configured (e.g. "/foo/*"), the
// value of APISIX's curr_req_matched._path; "" before a successful match.
func (p *Params) Pattern() string { return p.pattern }

// Host is the host pattern the match went through, lower-cased ("*.foo.com" or
// "foo.com"), APISIX's curr_req_matched._host; "" when a host-less route matched.
func (p *Params) Host() string { return p.host }

// Reset empties p, dropping its references to the last request's path.
func (p *Params) Reset() {
	clear(p.names[:p.n])
	clear(p.values[:p.n])
	p.n = 0
	p.pattern = ""
	p.host = ""
}

func (p *Params) push(name, value string) {
	p.names[p.n] = name
	p.values[p.n] = value
	p.n++
}

// truncate drops the captures past n, undoing a candidate that failed.
func (p *Params) truncate(n int) {
	clear(p.names[n:p.n])
	clear(p.values[n:p.n])
	p.n = n
}
