package condition

import (
	"errors"
	"net/netip"
	"strings"
)

var errNoIP = errors.New("invalid ip address")

// parseAddr reads an address as lua-resty-ipmatcher does: inet_pton(AF_INET) first, then
// inet_pton(AF_INET6) after taking off one pair of square brackets. No zone, no leading
// zeros in an IPv4 part; an IPv4-mapped IPv6 address stays IPv6 (it does not match an IPv4
// entry). It does not allocate.
func parseAddr(s string) (netip.Addr, bool) {
	if len(s) > 1 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	if strings.IndexByte(s, '%') >= 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a, true
}

// parseLeft is parseAddr for the variable: brackets are accepted around IPv6 only.
func parseLeft(s string) (netip.Addr, bool) {
	a, ok := parseAddr(s)
	if !ok || (a.Is4() && len(s) > 0 && s[0] == '[') {
		return netip.Addr{}, false
	}
	return a, true
}

// parsePrefix reads one ipmatch entry: an address, or address/bits. Host bits are
// ignored, as ipmatcher shifts them out. The error names the address part as ipmatcher
// does ("invalid ip address: foo" for "foo/8"), or the whole entry when the mask is bad.
func parsePrefix(entry string) (netip.Prefix, error) {
	addr, mask, hasMask := strings.Cut(entry, "/")
	a, ok := parseLeft(addr)
	if !ok {
		return netip.Prefix{}, errors.New("invalid ip address: " + addr)
	}
	bits := a.BitLen()
	if hasMask {
		n, ok := maskBits(mask, bits)
		if !ok {
			return netip.Prefix{}, errors.New("invalid ip address: " + entry)
		}
		bits = n
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

// maskBits reads a prefix length: plain decimal digits, at most max.
func maskBits(s string, max int) (int, bool) {
	if s == "" || len(s) > 3 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= max
}

func matchPrefixes(ps []netip.Prefix, s string) bool {
	a, ok := parseLeft(s)
	if !ok {
		return false
	}
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
