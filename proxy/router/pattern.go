package router

import (
	"errors"
	"fmt"
	"strings"
)

type tokKind uint8

const (
	tokLit   tokKind = iota // literal text, compared byte for byte
	tokParam                // ":name": one non-empty segment, [^/]+
	tokStar                 // "*name" or "*": the rest, '/' included, possibly empty
)

type token struct {
	kind tokKind
	text string // the literal, or the capture name
}

// pattern is one compiled URI pattern.
type pattern struct {
	raw   string
	key   string  // exact path, or the literal prefix looked up in the tree
	exact bool    // no ':' and no '*': hash lookup on key
	toks  []token // nil: reaching key is the whole test (exact, or a pure prefix)
}

// compile applies lua-resty-radixtree's rules (common_route_data, fetch_pat) with
// parameters enabled: the key is the text before the first ':' if there is one, else
// before the first '*'; captures come from the '/'-separated segments whose first byte
// is ':' or '*'.
func compile(raw string) (pattern, error) {
	if raw == "" {
		return pattern{}, errors.New("empty pattern")
	}
	pt := pattern{raw: raw}
	if i := strings.IndexByte(raw, ':'); i >= 0 {
		pt.key = raw[:i]
	} else if i := strings.IndexByte(raw, '*'); i >= 0 {
		pt.key = raw[:i]
	} else {
		pt.key, pt.exact = raw, true
		return pt, nil
	}

	var (
		toks  []token
		lit   strings.Builder
		names int
	)
	for i, seg := range strings.Split(raw, "/") {
		if i > 0 {
			lit.WriteByte('/')
		}
		if seg == "" || (seg[0] != ':' && seg[0] != '*') {
			lit.WriteString(seg)
			continue
		}
		if lit.Len() > 0 {
			toks = append(toks, token{kind: tokLit, text: lit.String()})
			lit.Reset()
		}
		names++
		if seg[0] == ':' {
			toks = append(toks, token{kind: tokParam, text: seg[1:]})
		} else if seg == "*" {
			toks = append(toks, token{kind: tokStar, text: ExtParam})
		} else {
			toks = append(toks, token{kind: tokStar, text: seg[1:]})
		}
	}
	if names == 0 {
		return pt, nil // e.g. "/foo*" or "/a:b": a pure prefix match on key
	}
	if names > MaxParams {
		return pattern{}, fmt.Errorf("%d parameters, at most %d", names, MaxParams)
	}
	if lit.Len() > 0 {
		toks = append(toks, token{kind: tokLit, text: lit.String()})
	}
	pt.toks = toks
	return pt, nil
}

// ExtParam is the name a bare "*" segment is captured under, as in lua-resty-radixtree
// (so APISIX exposes it as curr_req_matched[":ext"] and the variable uri_param_:ext).
const ExtParam = ":ext"

// matchToks reports whether the whole path matches toks, pushing the captures to p; on
// failure p is left as it was.
func matchToks(toks []token, path string, p *Params) bool {
	mark := p.n
	budget := maxStarTries
	if matchFrom(toks, path, p, &budget) {
		return true
	}
	p.truncate(mark)
	return false
}

// maxStarTries bounds the backtracking a pattern with stars inside it (e.g.
// "/a/*x/b/*y/c") may do on one path, as PCRE's match limit does in APISIX: past it the
// pattern does not match. One such star tries each '/' of the path once.
const maxStarTries = 10000

func matchFrom(toks []token, s string, p *Params, budget *int) bool {
	for ; len(toks) > 0; toks = toks[1:] {
		t := &toks[0]
		switch t.kind {
		case tokLit:
			if !strings.HasPrefix(s, t.text) {
				return false
			}
			s = s[len(t.text):]
		case tokParam:
			i := strings.IndexByte(s, '/')
			if i < 0 {
				i = len(s)
			}
			if i == 0 {
				return false
			}
			p.push(t.text, s[:i])
			s = s[i:]
		case tokStar:
			rest := toks[1:]
			if len(rest) == 0 {
				p.push(t.text, s)
				return true
			}
			// A star inside the pattern: greedy, as PCRE's (.*) — the longest capture
			// after which the rest (always a literal starting with '/') matches.
			mark := p.n
			for end := len(s); end >= 0; end-- {
				if end < len(s) && s[end] != '/' {
					continue
				}
				if *budget--; *budget < 0 {
					return false
				}
				p.push(t.text, s[:end])
				if matchFrom(rest, s[end:], p, budget) {
					return true
				}
				p.truncate(mark)
			}
			return false
		}
	}
	return s == ""
}
