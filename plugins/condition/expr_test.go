package condition

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// exprJSON is src as the JSON string Compile receives.
func exprJSON(src string) json.RawMessage {
	b, err := json.Marshal(src)
	if err != nil {
		panic(err)
	}
	return b
}

func mustCompileExpr(t testing.TB, src string) *Condition {
	t.Helper()
	c, err := Compile(exprJSON(src))
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	return c
}

// values is what each variable of an equivalence case takes in turn.
var values = []string{
	missing, "", "x", "X", "y", "ab", "xab", "AB", "18", " 18 ", "0x12", "18.0", "1.5", "-2",
	"11", "10", "9", "abc", "1e2", "nan", "inf", "true", `["x","y"]`, `[true]`, `[1]`,
	"10.1.2.3", "127.0.0.1", "::1", "[::1]", "11.0.0.1", "a1", "dev1", "v2", "9080",
}

// fewValues is the pool for cases with several variables (every combination is tried).
var fewValues = []string{missing, "", "x", "y", "2", "v2", "dev", "10.1.2.3", "80"}

var equivalence = []struct {
	array, expr string
	fixed       bool // the answer is the same for every value
}{
	{array: `[["arg_a","==","x"]]`, expr: `arg_a == "x"`},
	{array: `[["arg_a","==","x"]]`, expr: `"x" == arg_a`},
	{array: `[["arg_a","==",""]]`, expr: `arg_a == ''`},
	{array: `[["arg_a","!","==","x"]]`, expr: `!(arg_a == "x")`},
	{array: `[["arg_a","~=","x"]]`, expr: `arg_a != "x"`},
	{array: `[["arg_a","==",18]]`, expr: `arg_a == 18`},
	{array: `[["arg_a","==",1.5]]`, expr: `arg_a == 1.5`},
	{array: `[["arg_a","==",-2]]`, expr: `arg_a == -2`},
	{array: `[["arg_a","~=",18]]`, expr: `arg_a != 18`},
	{array: `[["arg_a","==",null]]`, expr: `arg_a == nil`},
	{array: `[["arg_a","~=",null]]`, expr: `arg_a != nil`},
	{array: `[["arg_a","==",true]]`, expr: `arg_a == true`, fixed: true},
	{array: `[["arg_a","~=",true]]`, expr: `arg_a != true`, fixed: true},
	{array: `[["arg_a",">",10]]`, expr: `arg_a > 10`},
	{array: `[["arg_a",">",10]]`, expr: `10 < arg_a`},
	{array: `[["arg_a",">=",10]]`, expr: `arg_a >= 10`},
	{array: `[["arg_a","<",10]]`, expr: `arg_a < 10`},
	{array: `[["arg_a","<=",-1.5]]`, expr: `arg_a <= -1.5`},
	{array: `[["arg_a",">","10"]]`, expr: `arg_a > "10"`},
	{array: `[["arg_a",">","abc"]]`, expr: `arg_a > "abc"`, fixed: true},
	{array: `[["arg_a","!",">",10]]`, expr: `not (arg_a > 10)`},
	{array: `[["arg_a","~~","^ab"]]`, expr: `arg_a matches "^ab"`},
	{array: `[["arg_a","~~","\\d"]]`, expr: `arg_a matches "\\d"`},
	{array: `[["arg_a","~*","^AB"]]`, expr: `arg_a matches "(?i)^AB"`},
	{array: `[["arg_a","!","~~","b"]]`, expr: `!(arg_a matches "b")`},
	{array: `[["arg_a","in",["x","ab"]]]`, expr: `arg_a in ["x", "ab"]`},
	{array: `[["arg_a","!","in",["x"]]]`, expr: `arg_a not in ["x"]`},
	{array: `[["arg_a","has","x"]]`, expr: `has(arg_a, "x")`},
	{array: `[["arg_a","has",true]]`, expr: `has(arg_a, true)`},
	{array: `[["remote_addr","ipmatch","10.0.0.0/8"]]`, expr: `ipmatch(remote_addr, "10.0.0.0/8")`},
	{array: `[["remote_addr","ipmatch",["127.0.0.1","::1"]]]`, expr: `ipmatch(remote_addr, ['127.0.0.1', '::1'])`},
	{array: `[["remote_addr","!","ipmatch","10.0.0.0/8"]]`, expr: `!ipmatch(remote_addr, "10.0.0.0/8")`},
	{array: `[["http_x","==","x"]]`, expr: `var("http_x") == "x"`},
	{array: `[["arg_a","==","x"]]`, expr: `arg_a == "x" ? true : false`},
	{array: `[["arg_a","==","x"]]`, expr: `lower(arg_a) == "x" && upper(arg_a) == "X" && arg_a != "X"`},
	{array: `[["arg_a","~~","^x"]]`, expr: `arg_a startsWith "x"`},
	{array: `[["arg_a","~~","^x"]]`, expr: `hasPrefix(arg_a, "x")`},
	{array: `[["arg_a","~~","b$"]]`, expr: `hasSuffix(arg_a, "b")`},
	{array: `[["arg_a","~~","b$"]]`, expr: `arg_a endsWith "b"`},
	{array: `[["arg_a","~~","a"]]`, expr: `arg_a contains "a"`},
	{array: `[["arg_a","~=",null],["arg_a","==","x"]]`, expr: `arg_a != nil && arg_a == "x"`},
	{array: `[]`, expr: `true`, fixed: true},
	// several variables
	{array: `[["arg_a","==","x"],["arg_b","==","y"]]`, expr: `arg_a == "x" && arg_b == "y"`},
	{array: `["OR",["arg_a","==","x"],["arg_b","==","y"]]`, expr: `arg_a == "x" || arg_b == "y"`},
	{array: `["!AND",["arg_a","==","x"],["arg_b","==","y"]]`, expr: `!(arg_a == "x" and arg_b == "y")`},
	{array: `["!OR",["arg_a","==","x"],["arg_b","==","y"]]`, expr: `not (arg_a == "x" or arg_b == "y")`},
	{array: `["OR",["AND",["arg_a","==","x"],["arg_b",">",1]],["arg_c","~~","\\d"]]`,
		expr: `(arg_a == "x" && arg_b > 1) || arg_c matches "\\d"`},
	{array: `["OR",["arg_a","==","x"],["arg_a",">",1]]`, expr: "arg_a == 'x'\n  || arg_a > 1"},
	{array: benchArray, expr: benchExpr},
}

// assign gives names every combination of vals and calls f with each.
func assign(names, vals []string, f func(v vars)) {
	idx := make([]int, len(names))
	for {
		v := vars{}
		for i, n := range names {
			if s := vals[idx[i]]; s != missing {
				v[n] = s
			}
		}
		f(v)
		i := 0
		for ; i < len(idx); i++ {
			if idx[i]++; idx[i] < len(vals) {
				break
			}
			idx[i] = 0
		}
		if i == len(idx) {
			return
		}
	}
}

func TestEquivalence(t *testing.T) {
	for _, tt := range equivalence {
		t.Run(tt.expr, func(t *testing.T) {
			a := mustCompile(t, tt.array)
			e := mustCompileExpr(t, tt.expr)
			names := a.Names()
			if got := e.Names(); !slices.Equal(got, names) {
				t.Errorf("Names() = %v, array form %v", got, names)
			}
			pool := values
			if len(names) > 1 {
				pool = fewValues
			}
			seen := map[bool]int{}
			assign(names, pool, func(v vars) {
				want := a.Eval(v)
				got, err := e.EvalErr(v)
				if got != want || err != nil {
					t.Errorf("Eval(%v) = %v, %v; the array form %s says %v", v, got, err, tt.array, want)
				}
				seen[want]++
			})
			if !tt.fixed && (seen[true] == 0 || seen[false] == 0) {
				t.Errorf("the values give only %v; the case tests nothing", seen)
			}
		})
	}
}

// TestExprEval covers what the array form cannot say.
func TestExprEval(t *testing.T) {
	tests := []struct {
		expr string
		v    vars
		want bool
	}{
		// the comparison rule
		{`arg_a == arg_b`, vars{}, true}, // nil == nil
		{`arg_a == arg_b`, vars{"arg_a": "1"}, false},
		{`arg_a == arg_b`, vars{"arg_a": "1", "arg_b": "1.0"}, false}, // two strings: bytes
		{`int(arg_a) == arg_b`, vars{"arg_a": "1", "arg_b": "1.0"}, true},
		{`arg_a == nil`, vars{"arg_a": ""}, false},
		{`nil == nil`, vars{}, true},
		{`"1" in [1, 2]`, vars{}, true}, // in uses ==; the array form's in would ignore numbers
		{`arg_a in [1, 2]`, vars{"arg_a": "0x2"}, true},
		{`arg_a in [nil, "x"]`, vars{}, true},
		{`arg_a in [true]`, vars{"arg_a": "true"}, false},
		{`has(arg_a, 1)`, vars{"arg_a": `["1"]`}, true}, // has uses ==; the array form's has would not convert
		{`has(["a", "b"], arg_a)`, vars{"arg_a": "b"}, true},
		{`has(["a", "b"], arg_a)`, vars{}, false},
		{`arg_a < arg_b`, vars{"arg_a": "9", "arg_b": "10"}, true}, // numbers, not text order
		{`arg_a < arg_b`, vars{"arg_a": "a", "arg_b": "b"}, false},
		{`true == true`, vars{}, true},
		{`true != "true"`, vars{}, true},
		{`true > 0`, vars{}, false},
		// helpers
		{`lower(arg_a) == "straße"`, vars{"arg_a": "STRASSE"}, false},
		{`lower(arg_a) == "äb"`, vars{"arg_a": "ÄB"}, true},
		{`upper(arg_a) == nil`, vars{}, true},
		{`len(arg_a) == 3`, vars{"arg_a": "äbc"}, true},
		{`len(arg_a) == 0`, vars{}, true},
		{`len(["a", 1]) == 2`, vars{}, true},
		{`int(arg_a) == 16`, vars{"arg_a": "0x10"}, true},
		{`int(arg_a) == 1`, vars{"arg_a": "1.9"}, true},
		{`int(arg_a) == -1`, vars{"arg_a": "-1.9"}, true},
		{`int(arg_a) == nil`, vars{"arg_a": "abc"}, true},
		{`int(arg_a) == nil`, vars{"arg_a": "1e30"}, true},
		{`int(arg_a) > 5`, vars{}, false},
		{`int(2.5) == 2`, vars{}, true},
		{`now() > 1700000000`, vars{}, true},
		{`now() < 1700000000`, vars{}, false},
		{`hasPrefix(arg_a, arg_b)`, vars{"arg_a": "abc", "arg_b": "ab"}, true},
		{`hasPrefix(arg_a, arg_b)`, vars{"arg_a": "abc"}, false},
		{`hasSuffix(lower(arg_a), "c")`, vars{"arg_a": "ABC"}, true},
		{`ipmatch(remote_addr, "2001:db8::/32")`, vars{"remote_addr": "2001:db8::1"}, true},
		{`ipmatch(lower(arg_a), "::1")`, vars{"arg_a": "::1"}, true},
		{`has(arg_a, "x")`, vars{"arg_a": `not json`}, false},
		{`var("post_arg.user.name") == "x"`, vars{"post_arg.user.name": "x"}, true},
		{`var("http_x-y") == "x" && http_x_y == nil`, vars{"http_x-y": "x"}, true},
		// ?? and ?:
		{`(arg_a ?? "prod") == "prod"`, vars{}, true},
		{`(arg_a ?? "prod") == "prod"`, vars{"arg_a": "dev"}, false},
		{`(arg_a ?? arg_b) == "b"`, vars{"arg_b": "b"}, true},
		{`arg_a == "x" ? arg_b == "1" : arg_c == "1"`, vars{"arg_a": "x", "arg_b": "1"}, true},
		{`arg_a == "x" ? arg_b == "1" : arg_c == "1"`, vars{"arg_c": "1"}, true},
		{`if arg_a == "x" { true } else { false }`, vars{"arg_a": "x"}, true},
		// literals
		{`1 < arg_a < 3`, vars{"arg_a": "2"}, true},
		{`1 < arg_a < 3`, vars{"arg_a": "3"}, false},
		{`arg_a == -0.5`, vars{"arg_a": "-.5"}, true},
		{`arg_a == +5`, vars{"arg_a": "5"}, true},
		{`arg_a == 0x10`, vars{"arg_a": "16"}, true},
		{`arg_a == 1_000`, vars{"arg_a": "1000"}, true},
		{`arg_a == 1_000`, vars{"arg_a": "1_000"}, false},
		{`arg_a == "a\"b"`, vars{"arg_a": `a"b`}, true},
		{`arg_a == 'a\nb'`, vars{"arg_a": "a\nb"}, true},
		{"arg_a == `raw\\n`", vars{"arg_a": `raw\n`}, true},
		{`arg_a == "x" // a comment`, vars{"arg_a": "x"}, true},
		{`false`, vars{}, false},
		{`arg_a | lower() == "x"`, vars{"arg_a": "X"}, true}, // expr's pipe is a call
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			c := mustCompileExpr(t, tt.expr)
			got, err := c.EvalErr(tt.v)
			if got != tt.want || err != nil {
				t.Errorf("Eval(%v) = %v, %v; want %v", tt.v, got, err, tt.want)
			}
			if c.Eval(tt.v) != got {
				t.Errorf("Eval and EvalErr disagree")
			}
		})
	}
}

func TestExprCompileErrors(t *testing.T) {
	tests := []struct {
		expr         string
		line, column int
		msg          string // a prefix of the message
	}{
		{``, 1, 1, "unexpected token EOF"},
		{`arg_x ==`, 1, 8, "unexpected token EOF"},
		{"arg_a == 'x' &&\n  arg_b = 1", 2, 9, "unexpected token"},
		{`arg_x`, 1, 1, "the expression must be a condition (true or false), not a string or nil"},
		{`"yes"`, 1, 1, "the expression must be a condition (true or false), not a string"},
		{`arg_a ?? true`, 1, 7, "the expression must be a condition (true or false), not a string or a condition"},
		{`int(arg_a)`, 1, 1, "the expression must be a condition (true or false), not a number or nil"},
		{`arg_a && arg_b == "1"`, 1, 1, "the left side of && must be a condition, not a string or nil"},
		{`!arg_a`, 1, 2, "the operand of ! must be a condition, not a string or nil"},
		{`arg_a == "1" ? arg_b : true`, 1, 27, "the expression must be a condition"},
		{`arg_a ? true : false`, 1, 1, "the condition of ?: must be a condition"},
		{`arg_a == [1]`, 1, 10, "the right side of == must be"},
		{`arg_a in "x"`, 1, 10, `the right side of in must be a list literal`},
		{`arg_a in arg_b`, 1, 10, `the right side of in must be a list literal`},
		{`arg_a in [arg_b]`, 1, 11, "a list may hold only strings, numbers, true, false and nil"},
		{`arg_a in [[1]]`, 1, 11, "a list may hold only"},
		{`foo(arg_a)`, 1, 1, "unknown function foo"},
		{`_eq(arg_a, "x")`, 1, 1, "unknown function _eq"},
		{`_var($env, 1)`, 1, 1, "unknown function _var"},
		{`$env == nil`, 1, 1, "unknown name $env"},
		{`all([1], # > 0)`, 1, 10, "predicates and # are not supported"},
		{`arg_a.b == "x"`, 1, 7, "member access, indexing and slicing are not supported"},
		{`arg_a[0] == "x"`, 1, 6, "member access"},
		{`arg_a?.b == "x"`, 1, 8, "member access"},
		{`{"a": 1} == nil`, 1, 1, "maps are not supported"},
		{`let x = 1; x == 1`, 1, 5, "let and ; are not supported"},
		{`arg_a + "x" == "y"`, 1, 7, "operator + is not supported"},
		{`-arg_a == 1`, 1, 1, "- applies only to a number literal"},
		{`arg_a matches arg_b`, 1, 15, "the pattern of matches must be a string literal"},
		{`arg_a matches "(?=x)"`, 1, 15, `invalid regex "(?=x)": invalid or unsupported Perl syntax`},
		{`arg_a matches "(a"`, 1, 15, `invalid regex "(a": missing closing )`},
		{`1 matches "a"`, 1, 1, "the left side of matches must be a string or nil, not a number"},
		{`ipmatch(remote_addr, "x")`, 1, 22, "invalid ip address: x"},
		{`ipmatch(remote_addr, ["10.0.0.1", "10.0.0.0/33"])`, 1, 35, "invalid ip address: 10.0.0.0/33"},
		{`ipmatch(remote_addr, [])`, 1, 22, "invalid ip address"},
		{`ipmatch(remote_addr, "")`, 1, 22, "invalid ip address"},
		{`ipmatch(remote_addr, arg_a)`, 1, 22, "the second argument of ipmatch must be an address or CIDR literal"},
		{`ipmatch(remote_addr, [1])`, 1, 23, "the second argument of ipmatch must be"},
		{`ipmatch(remote_addr)`, 1, 1, "ipmatch takes 2 argument(s), got 1"},
		{`ipmatch(1, "10.0.0.1")`, 1, 9, "the address of ipmatch must be a string or nil, not a number"},
		{`has(1, "x")`, 1, 5, "the list of has must be"},
		{`has(arg_a, [1])`, 1, 12, "the value has looks for must be"},
		{`lower(1) == "1"`, 1, 7, "the argument of lower must be a string or nil, not a number"},
		{`len(1) == 1`, 1, 5, "the argument of len must be"},
		{`int(true) == 1`, 1, 5, "the argument of int must be"},
		{`now(1) > 0`, 1, 1, "now takes 0 argument(s), got 1"},
		{`var(arg_a) == "x"`, 1, 5, "var takes a variable name as a non-empty string literal"},
		{`var("") == "x"`, 1, 5, "var takes a variable name"},
		{`arg_a startsWith 1`, 1, 18, "the right side of startsWith must be a string or nil"},
		{`arg_a == 1e999`, 1, 14, "invalid float literal"},
		{"arg_a == 'x' &&\n\targ_b.c", 2, 8, "member access"},
		{"arg_a == 'ü' && arg_b.c", 1, 23, "member access"}, // columns count characters
		{strings.Repeat("arg_a == 'x' && ", 300) + "true", 0, 0, "compilation failed: expression exceeds maximum allowed nodes"},
		{strings.Repeat("!", 20000) + "true", 1, 1, "the expression is longer than 16384 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			c, err := Compile(exprJSON(tt.expr))
			if err == nil {
				t.Fatalf("Compile = %v, nil; want an error", c)
			}
			if c != nil {
				t.Error("Compile returned a Condition with its error")
			}
			var pe *PosError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *PosError", err, err)
			}
			if (tt.line != 0 && (pe.Line != tt.line || pe.Column != tt.column)) || !strings.HasPrefix(pe.Msg, tt.msg) {
				t.Errorf("error = line %d, column %d: %q; want line %d, column %d: %q…",
					pe.Line, pe.Column, pe.Msg, tt.line, tt.column, tt.msg)
			}
			if want := fmt.Sprintf("line %d, column %d: %s", pe.Line, pe.Column, pe.Msg); err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestExprLazy(t *testing.T) {
	tests := []struct {
		expr string
		vars vars
		want bool
		read []string
	}{
		{`arg_a == "1" || arg_b == "1"`, vars{"arg_a": "1"}, true, []string{"arg_a"}},
		{`arg_a == "1" || arg_b == "1"`, vars{"arg_b": "1"}, true, []string{"arg_a", "arg_b"}},
		{`arg_a == "1" && arg_b == "1"`, vars{}, false, []string{"arg_a"}},
		{`arg_a == "1" ? arg_b == "1" : arg_c == "1"`, vars{}, false, []string{"arg_a", "arg_c"}},
		{`(arg_a ?? arg_b) == "1"`, vars{"arg_a": "1"}, true, []string{"arg_a"}},
		{`lower(arg_a) == "1" or has(arg_b, "x")`, vars{"arg_a": "1"}, true, []string{"arg_a"}},
		{`now() > 0 || arg_a == "x"`, vars{}, true, nil},
	}
	for _, tt := range tests {
		r := &recorder{vars: tt.vars}
		if got := mustCompileExpr(t, tt.expr).Eval(r); got != tt.want || !slices.Equal(r.read, tt.read) {
			t.Errorf("Compile(%q).Eval(%v) = %v reading %v, want %v reading %v",
				tt.expr, tt.vars, got, r.read, tt.want, tt.read)
		}
	}
}

func TestExprNames(t *testing.T) {
	c := mustCompileExpr(t, `has(arg_a, lower(http_b)) || arg_a == var("post_arg.c") || 1 < arg_d < 3`)
	want := []string{"arg_a", "http_b", "post_arg.c", "arg_d"}
	if got := c.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

// panicVars fails the way a broken Vars implementation would.
type panicVars struct{}

func (panicVars) Var(string) (string, bool) { panic("broken Vars") }

func TestEvalErr(t *testing.T) {
	var nilCond *Condition
	if ok, err := nilCond.EvalErr(nil); !ok || err != nil {
		t.Errorf("nil Condition: EvalErr = %v, %v; want true, nil", ok, err)
	}
	a := mustCompile(t, `[["arg_a","==","x"]]`)
	if ok, err := a.EvalErr(vars{"arg_a": "x"}); !ok || err != nil {
		t.Errorf("array form: EvalErr = %v, %v; want true, nil", ok, err)
	}
	e := mustCompileExpr(t, "arg_b == nil &&\n  arg_a == 'x'")
	if ok, err := e.EvalErr(nil); ok || err != nil {
		t.Errorf("EvalErr(nil) = %v, %v; want false, nil", ok, err)
	}
	ok, err := e.EvalErr(panicVars{})
	var pe *PosError
	if ok || !errors.As(err, &pe) || !strings.Contains(pe.Msg, "broken Vars") || pe.Line != 1 {
		t.Errorf("EvalErr(panicking Vars) = %v, %v; want false and a *PosError on line 1", ok, err)
	}
	if e.Eval(panicVars{}) {
		t.Error("Eval(panicking Vars) = true, want false")
	}
	// fail-open, as a _meta.filter caller does it
	if ok, err := e.EvalErr(panicVars{}); err != nil {
		ok = true
		if !ok {
			t.Fail()
		}
	}
	// the pooled runner is usable after a failure
	if !e.Eval(vars{"arg_a": "x"}) {
		t.Error("Eval after a failed evaluation = false, want true")
	}
}

var raceEnabled bool // race_test.go

func TestExprAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	tests := []struct {
		expr string
		v    vars
	}{
		{benchExpr, vars{"arg_version": "v2", "http_x_env": "dev", "remote_addr": "127.0.0.1", "server_port": "80"}},
		{`arg_a == arg_b || 80 <= arg_a || arg_a in ["x", 1]`, vars{"arg_a": "x", "arg_b": "y"}},
		{`hasPrefix(arg_a, arg_b) && arg_a contains "b" && int(arg_a) == nil`, vars{"arg_a": "abc", "arg_b": "a"}},
		{`arg_a == nil`, vars{}},
	}
	for _, tt := range tests {
		c := mustCompileExpr(t, tt.expr)
		if !c.Eval(tt.v) {
			t.Errorf("Compile(%q).Eval(%v) = false, want true", tt.expr, tt.v)
		}
		if n := testing.AllocsPerRun(200, func() { c.Eval(tt.v) }); n > 1 {
			t.Errorf("Compile(%q).Eval: %v allocs, want at most 1 (expr's argument buffer)", tt.expr, n)
		}
	}
}

func TestExpr_hammer(t *testing.T) {
	c := mustCompileExpr(t, `arg_a matches "^x\\d+$" && (ipmatch(remote_addr, "10.0.0.0/8") || has(arg_b, "k"))`)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				want := i%2 == 0
				v := vars{"arg_a": "x12", "remote_addr": "192.0.2.1", "arg_b": `["j"]`}
				if want {
					v["remote_addr"] = "10.0.0.1"
				}
				if got := c.Eval(v); got != want {
					t.Errorf("Eval(%v) = %v, want %v", v, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// gen turns fuzz bytes into a simple condition in both forms.
type gen struct {
	b []byte
	i int
}

func (g *gen) next(n int) int {
	if g.i >= len(g.b) {
		return 0
	}
	c := g.b[g.i]
	g.i++
	return int(c) % n
}

// genOps are the operators the generator uses, each with rule values on which both forms
// agree by the comparison rule (no numbers in in or has lists, no nil list members).
var genOps = []struct {
	op   string
	vals []any
}{
	{"==", []any{"x", "18", "", "0x12", 18.0, 1.5, -2.0, 0.0, nil, true}},
	{"~=", []any{"x", "18", "", 18.0, -2.0, nil, false}},
	{">", []any{10.0, -2.0, 1.5, "10", "abc", " 0x10 "}},
	{">=", []any{10.0, 0.0, "1e1"}},
	{"<", []any{10.0, -2.0, "abc"}},
	{"<=", []any{10.0, 1.5, "0x10"}},
	{"~~", []any{"^x", `\d`, "b$", "^$", "."}},
	{"~*", []any{"^X", "B"}},
	{"in", []any{[]any{"x", "18"}, []any{"", "ab"}, []any{}}},
	{"has", []any{"x", "ab", true}},
	{"ipmatch", []any{"10.0.0.0/8", []any{"127.0.0.1", "::1"}, "2001:db8::/32"}},
}

var genVars = []string{"arg_a", "http_b"}

func literalText(v any) string {
	switch t := v.(type) {
	case nil:
		return "nil"
	case bool:
		return strconv.FormatBool(t)
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	case string:
		return strconv.Quote(t)
	case []any:
		parts := make([]string, len(t))
		for i, m := range t {
			parts[i] = literalText(m)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	panic(fmt.Sprintf("literalText(%T)", v))
}

// rule returns the array form (as a Go value for json.Marshal) and the expression.
func (g *gen) rule(depth int) (any, string) {
	if depth < 3 && g.next(4) == 3 {
		heads := []string{"AND", "OR", "!AND", "!OR"}
		h := heads[g.next(4)]
		arr := []any{h}
		var parts []string
		for n := 2 + g.next(2); n > 0; n-- {
			a, e := g.rule(depth + 1)
			arr = append(arr, a)
			parts = append(parts, "("+e+")")
		}
		join := " && "
		if h == "OR" || h == "!OR" {
			join = " || "
		}
		e := strings.Join(parts, join)
		if h[0] == '!' {
			e = "!(" + e + ")"
		}
		return arr, e
	}
	name := genVars[g.next(len(genVars))]
	o := genOps[g.next(len(genOps))]
	val := o.vals[g.next(len(o.vals))]
	not := g.next(2) == 1
	var e string
	lit := literalText(val)
	switch o.op {
	case "==", ">", ">=", "<", "<=":
		e = name + " " + o.op + " " + lit
	case "~=":
		e = name + " != " + lit
	case "~~":
		e = name + " matches " + lit
	case "~*":
		e = name + " matches " + strconv.Quote("(?i)"+val.(string))
	case "in":
		e = name + " in " + lit
	case "has":
		e = "has(" + name + ", " + lit + ")"
	case "ipmatch":
		e = "ipmatch(" + name + ", " + lit + ")"
	}
	arr := []any{name, o.op, val}
	if not {
		arr = []any{name, "!", o.op, val}
		e = "!(" + e + ")"
	}
	return arr, e
}

func FuzzEquivalence(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0}, "x", "18", byte(3))
	f.Add([]byte{3, 1, 0, 2, 2, 0, 1, 4, 1, 1}, "10.1.2.3", `["x"]`, byte(1))
	f.Add([]byte{3, 3, 3, 2, 6, 1, 0, 0, 9, 2, 1, 1, 10, 1}, "::1", "dev", byte(2))
	f.Add([]byte{1, 5, 2, 1}, " 0x10 ", "nan", byte(0))
	f.Fuzz(func(t *testing.T, prog []byte, a, b string, present byte) {
		g := &gen{b: prog}
		ruleVal, src := g.rule(0)
		top := []any{ruleVal} // an expression must be wrapped at the top
		if s, ok := ruleVal.([]any)[0].(string); ok && isLogicOp(s) {
			top = ruleVal.([]any)
		}
		raw, err := json.Marshal(top)
		if err != nil {
			t.Fatal(err)
		}
		ac, err := Compile(raw)
		if err != nil {
			t.Fatalf("Compile(%s): %v", raw, err)
		}
		ec, err := Compile(exprJSON(src))
		if err != nil {
			t.Fatalf("Compile(%q): %v (array form %s)", src, err, raw)
		}
		v := vars{}
		if present&1 != 0 {
			v["arg_a"] = a
		}
		if present&2 != 0 {
			v["http_b"] = b
		}
		want := ac.Eval(v)
		got, err := ec.EvalErr(v)
		if got != want || err != nil {
			t.Errorf("%q on %v = %v, %v; the array form %s says %v", src, v, got, err, raw, want)
		}
	})
}

const (
	benchArray = `[["arg_version","==","v2"],["http_x_env","~~","^dev"],` +
		`["remote_addr","ipmatch",["10.0.0.0/8","127.0.0.1"]],["server_port",">=",80]]`
	benchExpr = `arg_version == 'v2' && http_x_env matches '^dev' && ` +
		`ipmatch(remote_addr, ['10.0.0.0/8', '127.0.0.1']) && server_port >= 80`
)

// BenchmarkCondition is the 4-clause condition of the reference (§1) in both forms.
func BenchmarkCondition(b *testing.B) {
	for _, bc := range []struct{ name, raw string }{
		{"array", benchArray},
		{"expression", string(exprJSON(benchExpr))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := mustCompile(b, bc.raw)
			v := &benchVars{version: "v2", env: "development", addr: "127.0.0.1", port: "9080"}
			if !c.Eval(v) {
				b.Fatal("Eval = false, want true")
			}
			b.ReportAllocs()
			for b.Loop() {
				c.Eval(v)
			}
		})
	}
}

func BenchmarkCompileExpr(b *testing.B) {
	raw := exprJSON(benchExpr)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzCompileExpr checks that any expression either is refused with a *PosError or
// evaluates without error: no type error is left for evaluation.
func FuzzCompileExpr(f *testing.F) {
	for _, tt := range equivalence {
		f.Add(tt.expr, "x")
	}
	for _, s := range []string{
		`(arg_a ?? 1) == 1`, `arg_a ? 1 : 2`, `len([1, nil, true]) > int(arg_a)`, `has(arg_a, nil)`,
		`lower(arg_a ?? upper(arg_b)) in ["a", 1, nil]`, `(arg_a == "1" ? now() : arg_b) >= 10`,
		`arg_a | hasPrefix("x")`, `-(1) == -1.5`, `[1][0] == 1`,
	} {
		f.Add(s, "1")
		f.Add(s, `["a",1]`)
	}
	f.Fuzz(func(t *testing.T, src, val string) {
		c, err := Compile(exprJSON(src))
		if err != nil {
			var pe *PosError
			if !errors.As(err, &pe) && !strings.HasPrefix(err.Error(), "rule is not valid JSON") {
				t.Fatalf("Compile(%q): %v (%T), want a *PosError", src, err, err)
			}
			return
		}
		for _, v := range []vars{{}, {"arg_a": val, "arg_b": val}} {
			for _, n := range c.Names() {
				if len(v) > 0 {
					v[n] = val
				}
			}
			if _, err := c.EvalErr(v); err != nil {
				t.Fatalf("Compile(%q).EvalErr(%v): %v", src, v, err)
			}
		}
	})
}
