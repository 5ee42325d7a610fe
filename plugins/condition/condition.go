package condition

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/vm"

	"github.com/portico-gw/portico/plugins/internal/bodyvars"
)

// Vars resolves a variable of Portico's namespace by name (e.g. "uri", "arg_x",
// "http_user_agent", "remote_addr"). ok=false means the variable is missing (Lua nil).
type Vars interface {
	Var(name string) (value string, ok bool)
}

// Condition is a compiled rule of either form; safe for concurrent use; nil *Condition
// means "always true".
type Condition struct {
	root  *node // the array form; nil (and prog nil): the empty rule [], always true
	names []string

	prog  *vm.Program // the string form (expr.go)
	slots int         // the string form: variable occurrences, one env slot each
}

// Compile parses raw JSON: the array form (errors use lua-resty-expr's messages) or a
// JSON string holding an expression (errors are *PosError). JSON null or no input gives
// a nil Condition; [] gives one that is always true.
func Compile(raw json.RawMessage) (*Condition, error) {
	c, err := compile(raw)
	if err != nil || c == nil {
		return c, err
	}
	// post_arg.<path> names a JSONPath or dotted path: checked now, as APISIX's Admin
	// API does, and cached for the requests
	for _, name := range c.names {
		if path, ok := strings.CutPrefix(name, "post_arg."); ok {
			if _, err := bodyvars.CompilePath(path); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

func compile(raw json.RawMessage) (*Condition, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if !json.Valid(raw) {
		return nil, errors.New("rule is not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("rule is not valid JSON: %w", err)
	}
	var rule []any
	switch t := v.(type) {
	case []any:
		rule = t
	case string:
		return compileExpr(t)
	default:
		return nil, errors.New("rule must be an array")
	}
	c := new(Condition)
	if len(rule) == 0 {
		return c, nil
	}
	if !isTable(rule[0]) {
		if s, ok := luaString(rule[0]); !ok || !isLogicOp(s) {
			return nil, errors.New("rule should be wrapped inside brackets")
		}
	}
	cp := compiler{seen: map[string]bool{}}
	root, err := cp.rule(rule)
	if err != nil {
		return nil, err
	}
	c.root, c.names = &root, cp.names
	return c, nil
}

// Eval evaluates against v. Never panics. Returns the boolean result, false when the
// evaluation fails (what a route wants; see EvalErr). A nil v resolves every variable as
// missing.
func (c *Condition) Eval(v Vars) bool {
	ok, err := c.EvalErr(v)
	return ok && err == nil
}

// EvalErr is Eval that reports a failed evaluation, so a caller can choose: a route does
// not match, while a plugin's _meta.filter runs the plugin (fail-open, as APISIX does):
//
//	ok, err := c.EvalErr(v)
//	if err != nil {
//		log.Warn("meta filter", "error", err)
//		ok = true
//	}
//
// The array form never fails. The string form is checked when compiled so that no type
// error is left for evaluation; what remains is a panic in a Vars implementation, which is
// recovered and returned (as a *PosError naming where in the expression).
func (c *Condition) EvalErr(v Vars) (bool, error) {
	if c == nil {
		return true, nil
	}
	if v == nil {
		v = noVars{}
	}
	if c.prog != nil {
		return c.evalExpr(v)
	}
	if c.root == nil {
		return true, nil
	}
	return c.root.eval(v), nil
}

// Names returns the distinct variable names the condition reads (for validation/explain),
// in the order they first appear.
func (c *Condition) Names() []string {
	if c == nil {
		return nil
	}
	return slices.Clone(c.names)
}

type noVars struct{}

func (noVars) Var(string) (string, bool) { return "", false }

// op is what a leaf does with the variable once resolved; the rule value is folded in
// at compile time.
type op uint8

const (
	opFalse   op = iota // never true (before "!")
	opTrue              // always true (before "!")
	opMissing           // == null: the variable is missing
	opPresent           // ~= null: the variable is present
	opEqStr             // == "s"
	opNeStr             // ~= "s"
	opEqNum             // == n
	opNeNum             // ~= n
	opGt
	opGe
	opLt
	opLe
	opRegex // ~~ and ~*
	opIn
	opHas
	opIPMatch
)

// node is a logical group (kids != nil) or a leaf expression.
type node struct {
	kids   []node
	or     bool // OR / !OR; else AND
	negate bool // !AND / !OR

	name     string // the variable
	op       op
	not      bool // [var, "!", op, value]
	str      string
	num      float64
	re       *regexp.Regexp
	list     []string // in: the string members; no other member can equal a variable
	has      any      // has: string, float64 or bool
	prefixes []netip.Prefix
}

func (n *node) eval(v Vars) bool {
	if n.kids == nil {
		s, ok := v.Var(n.name)
		return n.test(s, ok) != n.not
	}
	r := !n.or
	for i := range n.kids {
		if n.kids[i].eval(v) == n.or { // AND stops at the first false, OR at the first true
			r = n.or
			break
		}
	}
	return r != n.negate
}

func (n *node) test(s string, ok bool) bool {
	switch n.op {
	case opTrue:
		return true
	case opMissing:
		return !ok
	case opPresent:
		return ok
	case opEqStr:
		return ok && s == n.str
	case opNeStr:
		return !ok || s != n.str
	case opEqNum:
		if !ok {
			return false
		}
		f, isNum := toNumber(s)
		return isNum && f == n.num
	case opNeNum:
		if !ok {
			return true // tonumber(nil) is nil
		}
		f, isNum := toNumber(s)
		return !isNum || f != n.num
	case opGt, opGe, opLt, opLe:
		if !ok {
			return false
		}
		f, isNum := toNumber(s)
		if !isNum {
			return false
		}
		switch n.op {
		case opGt:
			return f > n.num
		case opGe:
			return f >= n.num
		case opLt:
			return f < n.num
		}
		return f <= n.num
	case opRegex:
		return ok && n.re.MatchString(s)
	case opIn:
		if !ok {
			return false
		}
		for _, m := range n.list {
			if m == s {
				return true
			}
		}
		return false
	case opHas:
		return ok && hasElement(s, n.has)
	case opIPMatch:
		return ok && matchPrefixes(n.prefixes, s)
	}
	return false
}

// hasElement decodes a variable holding a JSON array text and looks for want in it with
// Lua equality. It is the only operator that decodes per evaluation.
func hasElement(s string, want any) bool {
	if len(s) == 0 || s[0] != '[' {
		return false
	}
	var elems []any
	if err := json.Unmarshal([]byte(s), &elems); err != nil {
		return false
	}
	for _, e := range elems {
		if e == want { // string==string, float64==float64, bool==bool; never across types
			return true
		}
	}
	return false
}

var logicOps = map[string]bool{"AND": true, "OR": true, "!AND": true, "!OR": true}

func isLogicOp(s string) bool { return logicOps[asciiUpper(s)] }

var operators = map[string]bool{
	"==": true, "~=": true, ">": true, ">=": true, "<": true, "<=": true,
	"~~": true, "~*": true, "in": true, "has": true, "ipmatch": true,
}

// isTable reports whether a JSON value is a Lua table once decoded by cjson.
func isTable(v any) bool {
	switch v.(type) {
	case []any, map[string]any:
		return true
	}
	return false
}

// luaString is what string.lower/upper accept: a string, or a number in its tostring form.
func luaString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		f, ok := jsonNumber(t)
		return luaNumberString(f), ok
	}
	return "", false
}

// jsonNumber converts as cjson does (strtod): out of range gives ±Inf or 0.
func jsonNumber(n json.Number) (float64, bool) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		var ne *strconv.NumError
		if !errors.As(err, &ne) || ne.Err != strconv.ErrRange {
			return 0, false
		}
	}
	return f, true
}

func asciiUpper(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'a' && c <= 'z' {
					b[j] = c - 'a' + 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c - 'A' + 'a'
				}
			}
			return string(b)
		}
	}
	return s
}

type compiler struct {
	names []string
	seen  map[string]bool
}

var (
	errTooShort    = errors.New("rule too short")
	errInvalidExpr = errors.New("invalid expression")
)

// rule is lua-resty-expr's compile(): a group (implicit AND when the first element is a
// table, or a logical operator head) or an expression.
func (cp *compiler) rule(v any) (node, error) {
	var rules []any
	switch t := v.(type) {
	case []any:
		rules = t
	case map[string]any:
		return node{}, errTooShort // #{} == 0 in Lua
	case string:
		if t == "" {
			return node{}, errTooShort // #"" == 0 in Lua
		}
		return node{}, errInvalidExpr
	default:
		return node{}, errInvalidExpr
	}
	if len(rules) == 0 {
		return node{}, errTooShort
	}
	if isTable(rules[0]) {
		return cp.group(rules, false, false)
	}
	if s, ok := luaString(rules[0]); ok && isLogicOp(s) {
		if len(rules) <= 2 {
			return node{}, errTooShort // a logical group needs two operands
		}
		head := asciiUpper(s)
		return cp.group(rules[1:], head == "OR" || head == "!OR", head[0] == '!')
	}
	return cp.expr(rules)
}

// group compiles the operands of a logical group.
func (cp *compiler) group(operands []any, or, negate bool) (node, error) {
	g := node{kids: make([]node, 0, len(operands)), or: or, negate: negate}
	for _, o := range operands {
		k, err := cp.rule(o)
		if err != nil {
			return node{}, err
		}
		g.kids = append(g.kids, k)
	}
	return g, nil
}

// expr is compile_expr: [var, op, value], [var, "!", op, value] or the legacy [var, value].
// As in Lua, elements past the third of a non-"!" expression are ignored.
func (cp *compiler) expr(e []any) (node, error) {
	var lv, opv, rv any
	hasR := false
	n := node{}
	if len(e) == 4 {
		if s, ok := e[1].(string); !ok || s != "!" {
			return node{}, errors.New("bad 'not' expression")
		}
		n.not = true
		lv, opv, rv, hasR = e[0], e[2], e[3], true
	} else {
		lv = e[0]
		if len(e) > 1 {
			opv = e[1]
		}
		if len(e) > 2 {
			rv, hasR = e[2], true
		}
	}
	if len(e) < 2 {
		return node{}, errInvalidExpr
	}
	name, ok := lv.(string)
	if !ok {
		return node{}, errInvalidExpr // Lua would index ctx.var with a non-string and fail
	}
	opStr, ok := luaString(opv)
	if !ok {
		return node{}, errInvalidExpr // string.lower(x) raises an error in Lua
	}
	opStr = asciiLower(opStr)
	if !hasR && !operators[opStr] {
		// For compatibility: [var, value] means ==, with the value lower-cased.
		rv, hasR, opStr = opStr, true, "=="
	}
	if !operators[opStr] {
		return node{}, fmt.Errorf("invalid operator '%s'", opStr)
	}
	if err := fold(&n, opStr, rv, hasR); err != nil {
		return node{}, err
	}
	n.name = name
	if !cp.seen[name] {
		cp.seen[name] = true
		cp.names = append(cp.names, name)
	}
	return n, nil
}

// fold turns an operator and its rule value into a leaf op. A missing value (hasR false)
// and JSON null are both Lua nil at evaluation.
func fold(n *node, opStr string, rv any, hasR bool) error {
	isNil := !hasR || rv == nil
	switch opStr {
	case "==", "~=":
		eq := opStr == "=="
		switch t := rv.(type) {
		case json.Number:
			f, _ := jsonNumber(t)
			n.num, n.op = f, pick(eq, opEqNum, opNeNum)
		case string:
			n.str, n.op = t, pick(eq, opEqStr, opNeStr)
		default:
			if isNil {
				n.op = pick(eq, opMissing, opPresent)
			} else { // boolean or table: never equal to a string or nil
				n.op = pick(eq, opFalse, opTrue)
			}
		}
	case ">", ">=", "<", "<=":
		var f float64
		ok := false
		switch t := rv.(type) {
		case json.Number:
			f, ok = jsonNumber(t)
		case string:
			f, ok = toNumber(t)
		}
		if !ok {
			n.op = opFalse
			return nil
		}
		n.num = f
		n.op = map[string]op{">": opGt, ">=": opGe, "<": opLt, "<=": opLe}[opStr]
	case "~~", "~*":
		pat, ok := rv.(string)
		if !ok {
			return fmt.Errorf("invalid regex for '%s': %s is not a string", opStr, jsonText(rv, hasR))
		}
		src := pat
		if opStr == "~*" {
			src = "(?i)" + pat
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return fmt.Errorf("invalid regex %q: %v", pat, unwrapRegexErr(err))
		}
		n.re, n.op = re, opRegex
	case "in":
		n.op = opIn
		n.list = []string{}
		if arr, ok := rv.([]any); ok {
			for _, m := range arr {
				if s, ok := m.(string); ok {
					n.list = append(n.list, s)
				}
			}
		}
		if len(n.list) == 0 {
			n.op = opFalse
		}
	case "has":
		switch t := rv.(type) {
		case string, bool:
			n.has, n.op = t, opHas
		case json.Number:
			f, _ := jsonNumber(t)
			n.has, n.op = f, opHas
		default: // nil or a table: no element equals it
			n.op = opFalse
		}
	case "ipmatch":
		var entries []any
		switch t := rv.(type) {
		case string:
			if t == "" {
				return errNoIP
			}
			entries = []any{t}
		case []any:
			entries = t
		case map[string]any:
			entries = nil // #{} == 0
		case nil:
			return errNoIP
		default:
			return fmt.Errorf("invalid ip address: %s", jsonText(rv, hasR))
		}
		if len(entries) == 0 {
			return errNoIP
		}
		for _, e := range entries {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("invalid ip address: %s", jsonText(e, true))
			}
			p, err := parsePrefix(s)
			if err != nil {
				return err
			}
			n.prefixes = append(n.prefixes, p)
		}
		n.op = opIPMatch
	}
	return nil
}

func pick(cond bool, a, b op) op {
	if cond {
		return a
	}
	return b
}

// jsonText shows a rule value in an error.
func jsonText(v any, present bool) string {
	if !present {
		return "nil"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// unwrapRegexErr drops the pattern that regexp repeats in its message.
func unwrapRegexErr(err error) error {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Errorf("%s: `%s`", se.Code, se.Expr)
	}
	return err
}
