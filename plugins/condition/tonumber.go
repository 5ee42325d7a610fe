package condition

import (
	"math"
	"math/bits"
	"strconv"
)

// toNumber is LuaJIT's tonumber(s) for a string (base 10), ported from lj_strscan_scan
// with the STRSCAN_OPT_TONUM option: ASCII whitespace (\t \n \v \f \r and space) around
// the number, an optional sign, decimal with fraction and exponent, 0x hex with fraction
// and p exponent, 0b binary, inf/infinity/nan in any case. No underscores, no suffixes,
// no embedded NUL. It does not allocate for valid input.
func toNumber(s string) (float64, bool) {
	// Fast path: a short run of decimal digits, the common case for ports and args.
	if n := len(s); n > 0 && n <= 15 {
		var x uint64
		i := 0
		for ; i < n; i++ {
			c := s[i] - '0'
			if c > 9 {
				break
			}
			x = x*10 + uint64(c)
		}
		if i == n {
			return float64(x), true
		}
	}
	return scanNumber(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isXDigit(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }

// isSpace is lj_char_isspace: \t \n \v \f \r and space.
func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

const maxExp = 1 << 20 // STRSCAN_MAXEXP

func scanNumber(s string) (float64, bool) {
	// at mimics reading a NUL-terminated C string: 0 past the end.
	at := func(i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	p, neg := 0, false

	// Leading space, sign, and the non-numbers.
	if !isDigit(at(p)) {
		for isSpace(at(p)) {
			p++
		}
		if c := at(p); c == '+' || c == '-' {
			neg = c == '-'
			p++
		}
		if at(p) >= 'A' {
			v := math.NaN()
			if at(p)|0x20 == 'i' && at(p+1)|0x20 == 'n' && at(p+2)|0x20 == 'f' {
				v = math.Inf(1)
				if neg {
					v = math.Inf(-1)
				}
				p += 3
				if at(p)|0x20 == 'i' && at(p+1)|0x20 == 'n' && at(p+2)|0x20 == 'i' &&
					at(p+3)|0x20 == 't' && at(p+4)|0x20 == 'y' {
					p += 5
				}
			} else if at(p)|0x20 == 'n' && at(p+1)|0x20 == 'a' && at(p+2)|0x20 == 'n' {
				p += 3
			}
			for isSpace(at(p)) {
				p++
			}
			if p < len(s) {
				return 0, false
			}
			return v, true
		}
	}
	start := p // sign excluded; neg carries it

	base := 10
	dp := -1 // index of the decimal point
	hasdig := false
	if at(p) <= '0' {
		if at(p) == '0' {
			switch at(p+1) | 0x20 {
			case 'x':
				base = 16
				p += 2
			case 'b':
				base = 2
				p += 2
			}
		}
		for ; ; p++ {
			if c := at(p); c == '0' {
				hasdig = true
			} else if c == '.' {
				if dp >= 0 {
					return 0, false
				}
				dp = p
			} else {
				break
			}
		}
	}

	sp, dig := p, 0
	for ; ; p++ {
		c := at(p)
		if (base == 16 && isXDigit(c)) || (base != 16 && isDigit(c)) {
			dig++
		} else if c == '.' {
			if dp >= 0 {
				return 0, false
			}
			dp = p
		} else {
			break
		}
	}
	if !hasdig && dig == 0 {
		return 0, false
	}

	ex := 0
	if dp >= 0 {
		if base == 2 {
			return 0, false
		}
		if dig > 0 {
			ex = dp - (p - 1)
			for d := p - 1; ex < 0 && s[d] == '0'; d-- {
				ex++
				dig--
			}
			if ex <= -maxExp {
				return 0, false
			}
			if base == 16 {
				ex *= 4
			}
		}
	}

	expChar := byte('e')
	if base == 16 {
		expChar = 'p'
	}
	if base >= 10 && at(p)|0x20 == expChar {
		p++
		negx := false
		if c := at(p); c == '+' || c == '-' {
			negx = c == '-'
			p++
		}
		if !isDigit(at(p)) {
			return 0, false
		}
		xx := int(at(p) & 15)
		p++
		for isDigit(at(p)) {
			xx = xx*10 + int(at(p)&15)
			if xx >= maxExp {
				return 0, false
			}
			p++
		}
		if negx {
			xx = -xx
		}
		ex += xx
	}
	end := p

	// tonumber accepts no suffix (i, u, l, ll): only trailing space.
	for isSpace(at(p)) {
		p++
	}
	if p < len(s) {
		return 0, false
	}

	switch base {
	case 16:
		return hexToFloat(s, sp, dig, ex, neg), true
	case 2:
		return binToFloat(s, sp, dig, neg)
	}
	f, err := strconv.ParseFloat(s[start:end], 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return 0, false // cannot happen: the syntax was checked above
		}
	}
	if neg {
		f = -f
	}
	return f, true
}

// hexToFloat is strscan_hex: the first 16 significant digits, a sticky bit for the rest.
func hexToFloat(s string, p, dig, ex2 int, neg bool) float64 {
	var x uint64
	next := func() byte {
		if s[p] == '.' {
			p++
		}
		c := s[p]
		p++
		return c
	}
	for i := min(dig, 16); i > 0; i-- {
		d := uint64(next())
		if d > '9' {
			d += 9
		}
		x = x<<4 + d&15
	}
	for i := 16; i < dig; i++ {
		if next() != '0' {
			x |= 1
		}
		ex2 += 4
	}
	if x&0xc000000000000000 != 0 {
		x = x>>2 | x&3
		ex2 += 2
	}
	return strscanDouble(x, ex2, neg)
}

// binToFloat is strscan_bin: at most 64 significant digits, each 0 or 1.
func binToFloat(s string, p, dig int, neg bool) (float64, bool) {
	if dig > 64 {
		return 0, false
	}
	var x uint64
	for i := 0; i < dig; i++ {
		c := s[p+i]
		if c&^1 != '0' {
			return 0, false
		}
		x = x<<1 | uint64(c&1)
	}
	ex2 := 0
	if x&0xc000000000000000 != 0 {
		x = x>>2 | x&3
		ex2 += 2
	}
	return strscanDouble(x, ex2, neg), true
}

// strscanDouble is strscan_double, including its care for denormals.
func strscanDouble(x uint64, ex2 int, neg bool) float64 {
	if ex2 <= -1075 && x != 0 {
		b := 63 - bits.LeadingZeros64(x)
		if b+ex2 <= -1023 && b+ex2 >= -1075 {
			rb := uint64(1) << uint(-1075-ex2)
			if x&rb != 0 && x&(rb+rb+rb-1) != 0 {
				x += rb + rb
			}
			x &^= rb + rb - 1
		}
	}
	n := float64(int64(x))
	if neg {
		n = -n
	}
	if ex2 != 0 {
		n = math.Ldexp(n, ex2)
	}
	return n
}

// luaNumberString is tostring(n) in LuaJIT: "%.14g", with inf and nan spelled as Lua does.
func luaNumberString(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	return strconv.FormatFloat(f, 'g', 14, 64)
}
