package cidr

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// ipv6CIDR is the schema pattern an IPv6 CIDR entry must match (schema_def.lua ip_def);
// an entry that matches it but does not parse gets check_schema's "invalid ip address".
var ipv6CIDR = regexp.MustCompile(`^([a-fA-F0-9]{0,4}:){1,8}(:[a-fA-F0-9]{0,4}){0,8}([a-fA-F0-9]{0,4})?/[0-9]{1,3}$`)

// ParseList reads IPs and CIDRs as lua-resty-ipmatcher does: host bits are masked off.
// field names the list in the error; a nil list gives nil.
func ParseList(field string, list []string) ([]netip.Prefix, error) {
	if list == nil {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, ok := ParsePrefix(s)
		if !ok {
			if ipv6CIDR.MatchString(s) {
				return nil, errors.New("invalid ip address: " + s)
			}
			return nil, fmt.Errorf(`property %q validation failed: failed to validate item %d: object matches none of the required`, field, i+1)
		}
		out = append(out, p)
	}
	return out, nil
}

// ParsePrefix reads one IP (a full-length prefix) or CIDR; ok is false when s is neither.
func ParsePrefix(s string) (netip.Prefix, bool) {
	addr, mask, hasMask := strings.Cut(s, "/")
	if strings.IndexByte(addr, '%') >= 0 {
		return netip.Prefix{}, false
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	bits := a.BitLen()
	if hasMask {
		n, err := strconv.Atoi(mask)
		if err != nil || n < 0 || n > bits || mask == "" || mask[0] == '+' || len(mask) > 3 {
			return netip.Prefix{}, false
		}
		bits = n
	}
	return netip.PrefixFrom(a, bits).Masked(), true
}

// Contains reports whether a is in one of prefixes.
func Contains(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, pf := range prefixes {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}
