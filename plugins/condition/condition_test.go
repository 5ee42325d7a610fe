package condition

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
)

// vars is a test Vars; a name absent from the map is missing.
type vars map[string]string

func (m vars) Var(name string) (string, bool) { s, ok := m[name]; return s, ok }

// recorder is a Vars that remembers what was read, for short-circuit tests.
type recorder struct {
	vars
	read []string
}

func (r *recorder) Var(name string) (string, bool) {
	r.read = append(r.read, name)
	return r.vars.Var(name)
}

func mustCompile(t testing.TB, rule string) *Condition {
	t.Helper()
	c, err := Compile(json.RawMessage(rule))
	if err != nil {
		t.Fatalf("Compile(%s): %v", rule, err)
	}
	return c
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		rule string
		want string
	}{
		// §1.1 shape
		{`["arg_k","==","v"]`, "rule should be wrapped inside brackets"},
		{`[5]`, "rule should be wrapped inside brackets"},
		{`[null]`, "rule should be wrapped inside brackets"},
		{`[true,["a","==","b"]]`, "rule should be wrapped inside brackets"},
		{`["XOR",["a","==","b"],["c","==","d"]]`, "rule should be wrapped inside brackets"},
		{`[[]]`, "rule too short"},
		{`[{}]`, "rule too short"},
		{`["OR",["a","==","b"]]`, "rule too short"},
		{`["AND"]`, "rule too short"},
		{`["!and",["a","==","b"]]`, "rule too short"},
		{`[["OR",["a","==","b"]]]`, "rule too short"},
		{`[["a","==","b"],[]]`, "rule too short"},
		{`[["a","==","b"],{}]`, "rule too short"},
		{`[["a","==","b"],""]`, "rule too short"},
		{`[["arg_k"]]`, "invalid expression"},
		{`[["a","==","b"],"x"]`, "invalid expression"},
		{`[["a","==","b"],5]`, "invalid expression"},
		{`["OR","a","b"]`, "invalid expression"},
		{`[[1,"==","b"]]`, "invalid expression"},
		{`[[null,"==","b"]]`, "invalid expression"},
		{`[["a",true,"b"]]`, "invalid expression"},
		{`[["a",null]]`, "invalid expression"},
		{`[["a",["=="],"b"]]`, "invalid expression"},
		{`[["arg_k","=","v"]]`, "invalid operator '='"},
		{`[["arg_k","EQ","v"]]`, "invalid operator 'eq'"},
		{`[["arg_k","ip_match","10.0.0.1"]]`, "invalid operator 'ip_match'"},
		{`[["arg_k",5,"v"]]`, "invalid operator '5'"},
		{`[["arg_k","!","=","v"]]`, "invalid operator '='"},
		{`[["arg_k","?","==","v"]]`, "bad 'not' expression"},
		{`[["arg_k","==","==","v"]]`, "bad 'not' expression"},
		{`[["arg_k",1,"==","v"]]`, "bad 'not' expression"},
		// ipmatch
		{`[["remote_addr","ipmatch"]]`, "invalid ip address"},
		{`[["remote_addr","ipmatch",null]]`, "invalid ip address"},
		{`[["remote_addr","ipmatch",""]]`, "invalid ip address"},
		{`[["remote_addr","ipmatch",[]]]`, "invalid ip address"},
		{`[["remote_addr","ipmatch",{}]]`, "invalid ip address"},
		{`[["remote_addr","ipmatch","x"]]`, "invalid ip address: x"},
		{`[["remote_addr","ipmatch",["10.0.0.1","x"]]]`, "invalid ip address: x"},
		{`[["remote_addr","ipmatch",[""]]]`, "invalid ip address: "},
		{`[["remote_addr","ipmatch","foo/8"]]`, "invalid ip address: foo"},
		{`[["remote_addr","ipmatch","10.0.0.0/33"]]`, "invalid ip address: 10.0.0.0/33"},
		{`[["remote_addr","ipmatch","10.0.0.0/"]]`, "invalid ip address: 10.0.0.0/"},
		{`[["remote_addr","ipmatch","::/129"]]`, "invalid ip address: ::/129"},
		{`[["remote_addr","ipmatch","10.0.0.0/8.5"]]`, "invalid ip address: 10.0.0.0/8.5"},
		{`[["remote_addr","ipmatch","010.0.0.1"]]`, "invalid ip address: 010.0.0.1"},
		{`[["remote_addr","ipmatch","fe80::1%eth0"]]`, "invalid ip address: fe80::1%eth0"},
		{`[["remote_addr","ipmatch","[10.0.0.1]"]]`, "invalid ip address: [10.0.0.1]"},
		{`[["remote_addr","ipmatch",[5]]]`, "invalid ip address: 5"},
		{`[["remote_addr","ipmatch",5]]`, "invalid ip address: 5"},
		{`[["remote_addr","ipmatch",true]]`, "invalid ip address: true"},
		// regexes: refused when RE2 cannot compile them or they are not strings
		{`[["arg_k","~~","(?=x)"]]`, `invalid regex "(?=x)": invalid or unsupported Perl syntax: ` + "`(?=`"},
		{`[["arg_k","~*","a\\Z"]]`, `invalid regex "a\\Z": invalid escape sequence: ` + "`\\Z`"},
		{`[["arg_k","~~","(a"]]`, `invalid regex "(a": missing closing ): ` + "`(a`"},
		{`[["arg_k","~~"]]`, "invalid regex for '~~': nil is not a string"},
		{`[["arg_k","~~",null]]`, "invalid regex for '~~': null is not a string"},
		{`[["arg_k","~*",5]]`, "invalid regex for '~*': 5 is not a string"},
		// top level
		{`{}`, "rule must be an array"},
		{`{"a":1}`, "rule must be an array"},
		{`5`, "rule must be an array"},
		{`true`, "rule must be an array"},
		{`[["a","==","b"]`, "rule is not valid JSON"},
		{`[] []`, "rule is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			c, err := Compile(json.RawMessage(tt.rule))
			if err == nil {
				t.Fatalf("Compile(%s) = %v, nil; want error %q", tt.rule, c, tt.want)
			}
			if got := err.Error(); got != tt.want && !strings.HasPrefix(got, tt.want+":") {
				t.Errorf("Compile(%s) error = %q, want %q", tt.rule, got, tt.want)
			}
			if c != nil {
				t.Errorf("Compile(%s) returned a Condition with its error", tt.rule)
			}
		})
	}
}

func TestCompileEmpty(t *testing.T) {
	for _, raw := range []string{"", "  ", "null", " null\n"} {
		c, err := Compile(json.RawMessage(raw))
		if c != nil || err != nil {
			t.Errorf("Compile(%q) = %v, %v; want nil, nil", raw, c, err)
		}
		if !c.Eval(vars{}) {
			t.Errorf("nil Condition from %q: Eval = false, want true", raw)
		}
		if n := c.Names(); n != nil {
			t.Errorf("nil Condition: Names = %v, want nil", n)
		}
	}
	c := mustCompile(t, ` [ ] `)
	if c == nil {
		t.Fatal("Compile([]) = nil, want an always-true Condition")
	}
	if !c.Eval(vars{}) || !c.Eval(nil) {
		t.Error("Compile([]).Eval = false, want true")
	}
	if n := c.Names(); len(n) != 0 {
		t.Errorf("Compile([]).Names = %v, want none", n)
	}
}

// missing marks a variable as absent in an eval case.
const missing = "\x00missing"

func TestEval(t *testing.T) {
	tests := []struct {
		name string
		rule string
		val  string // the value of every variable the rule reads, or missing
		want bool
	}{
		// == with a string
		{"== string equal", `[["arg_a","==","x"]]`, "x", true},
		{"== string differs", `[["arg_a","==","x"]]`, "y", false},
		{"== string missing", `[["arg_a","==","x"]]`, missing, false},
		{"== string empty", `[["arg_a","==",""]]`, "", true},
		{"! == string missing", `[["arg_a","!","==","x"]]`, missing, true},
		{"! == string equal", `[["arg_a","!","==","x"]]`, "x", false},
		{"== no coercion 18 vs 18.0", `[["arg_a","==","18"]]`, "18.0", false},
		{"== case sensitive", `[["arg_a","==","x"]]`, "X", false},
		// == with a number: tonumber on the variable
		{"== number", `[["arg_a","==",18]]`, "18", true},
		{"== number 18.0", `[["arg_a","==",18]]`, "18.0", true},
		{"== number spaces", `[["arg_a","==",18]]`, " \t18\n ", true},
		{"== number hex", `[["arg_a","==",18]]`, "0x12", true},
		{"== number exponent", `[["arg_a","==",1800]]`, "1.8e3", true},
		{"== number fraction", `[["arg_a","==",1.5]]`, "1.50", true},
		{"== number underscore", `[["arg_a","==",1000]]`, "1_000", false},
		{"== number not numeric", `[["arg_a","==",18]]`, "abc", false},
		{"== number empty", `[["arg_a","==",0]]`, "", false},
		{"== number missing", `[["arg_a","==",18]]`, missing, false},
		{"! == number not numeric", `[["arg_a","!","==",18]]`, "abc", true},
		{"! == number missing", `[["arg_a","!","==",18]]`, missing, true},
		// == with null, booleans, tables
		{"== null missing", `[["arg_a","==",null]]`, missing, true},
		{"== null present", `[["arg_a","==",null]]`, "", false},
		{"! == null missing", `[["arg_a","!","==",null]]`, missing, false},
		{"== true vs text true", `[["arg_a","==",true]]`, "true", false},
		{"== false missing", `[["arg_a","==",false]]`, missing, false},
		{"== array", `[["arg_a","==",["x"]]]`, "x", false},
		{"== object", `[["arg_a","==",{}]]`, "x", false},
		// ~=
		{"~= string differs", `[["arg_a","~=","x"]]`, "y", true},
		{"~= string equal", `[["arg_a","~=","x"]]`, "x", false},
		{"~= string missing", `[["arg_a","~=","x"]]`, missing, true},
		{"! ~= string missing", `[["arg_a","!","~=","x"]]`, missing, false},
		{"~= number equal", `[["arg_a","~=",18]]`, "18", false},
		{"~= number differs", `[["arg_a","~=",18]]`, "19", true},
		{"~= number not numeric", `[["arg_a","~=",18]]`, "abc", true},
		{"~= number missing", `[["arg_a","~=",18]]`, missing, true},
		{"~= number nan", `[["arg_a","~=",18]]`, "nan", true},
		{"~= null present", `[["arg_a","~=",null]]`, "", true},
		{"~= null missing", `[["arg_a","~=",null]]`, missing, false},
		{"~= boolean", `[["arg_a","~=",true]]`, "true", true},
		{"~= array", `[["arg_a","~=",["x"]]]`, "x", true},
		// > >= < <=
		{"> true", `[["arg_a",">",10]]`, "11", true},
		{"> equal", `[["arg_a",">",10]]`, "10", false},
		{"> not numeric", `[["arg_a",">",10]]`, "abc", false},
		{"> missing", `[["arg_a",">",10]]`, missing, false},
		{"! > missing", `[["arg_a","!",">",10]]`, missing, true},
		{"! > not numeric", `[["arg_a","!",">",10]]`, "abc", true},
		{"> spaces", `[["arg_a",">",10]]`, " 11 ", true},
		{"> hex", `[["arg_a",">",10]]`, "0x10", true},
		{"> exponent", `[["arg_a",">",10]]`, "1e2", true},
		{"> negative", `[["arg_a",">",-10]]`, "-9.5", true},
		{"> inf", `[["arg_a",">",10]]`, "INF", true},
		{"> -infinity", `[["arg_a",">",10]]`, "-Infinity", false},
		{"> nan", `[["arg_a",">",10]]`, "nan", false},
		{"<= nan", `[["arg_a","<=",10]]`, "nan", false},
		{"> underscore", `[["arg_a",">",10]]`, "1_000", false},
		{"> numeric string rule", `[["arg_a",">","10"]]`, "11", true},
		{"> hex string rule", `[["arg_a",">"," 0x0A "]]`, "11", true},
		{"> non-numeric rule", `[["arg_a",">","abc"]]`, "11", false},
		{"> boolean rule", `[["arg_a",">",true]]`, "11", false},
		{"> null rule", `[["arg_a",">",null]]`, "11", false},
		{"! > null rule", `[["arg_a","!",">",null]]`, "11", true},
		{">= equal", `[["arg_a",">=",10]]`, "10", true},
		{">= less", `[["arg_a",">=",10]]`, "9", false},
		{"< less", `[["arg_a","<",10]]`, "9", true},
		{"< equal", `[["arg_a","<",10]]`, "10", false},
		{"< missing", `[["arg_a","<",10]]`, missing, false},
		{"<= equal", `[["arg_a","<=",10]]`, "10", true},
		{"<= greater", `[["arg_a","<=",10]]`, "10.01", false},
		{"<= empty", `[["arg_a","<=",10]]`, "", false},
		// ~~ and ~*
		{"~~ match", `[["arg_a","~~","^ab"]]`, "abc", true},
		{"~~ anchored miss", `[["arg_a","~~","^ab"]]`, "xabc", false},
		{"~~ unanchored", `[["arg_a","~~","b"]]`, "abc", true},
		{"~~ case", `[["arg_a","~~","AB"]]`, "ab", false},
		{"~~ missing", `[["arg_a","~~","."]]`, missing, false},
		{"~~ missing empty pattern", `[["arg_a","~~",""]]`, missing, false},
		{"! ~~ missing", `[["arg_a","!","~~","re"]]`, missing, true},
		{"! ~~ match", `[["arg_a","!","~~","re"]]`, "pre", false},
		{"~* match", `[["arg_a","~*","AB"]]`, "xaby", true},
		{"~* miss", `[["arg_a","~*","^AB$"]]`, "abc", false},
		{"~* missing", `[["arg_a","~*","AB"]]`, missing, false},
		{"~* alternation", `[["arg_a","~*","x|AB"]]`, "ab", true},
		{"~~ uppercase op", `[["arg_a","~~","\\d+"]]`, "a12", true},
		// in
		{"in member", `[["arg_a","in",["x","y"]]]`, "y", true},
		{"in not member", `[["arg_a","in",["x","y"]]]`, "z", false},
		{"in missing", `[["arg_a","in",["x","y"]]]`, missing, false},
		{"! in missing", `[["arg_a","!","in",["x"]]]`, missing, true},
		{"! in member", `[["arg_a","!","in",["x"]]]`, "x", false},
		{"in numbers", `[["arg_a","in",[1,2]]]`, "1", false},
		{"in boolean", `[["arg_a","in",[true]]]`, "true", false},
		{"in null member", `[["arg_a","in",[null,"x"]]]`, "x", true},
		{"in not an array", `[["arg_a","in","x"]]`, "x", false},
		{"in object", `[["arg_a","in",{"x":"x"}]]`, "x", false},
		{"in null", `[["arg_a","in",null]]`, "x", false},
		{"in empty", `[["arg_a","in",[]]]`, "", false},
		{"IN upper case", `[["arg_a","IN",["x"]]]`, "x", true},
		// has
		{"has member", `[["arg_a","has","x"]]`, `["x","y"]`, true},
		{"has not member", `[["arg_a","has","x"]]`, `["y"]`, false},
		{"has scalar variable", `[["arg_a","has","x"]]`, "x", false},
		{"has bad JSON", `[["arg_a","has","x"]]`, `["x"`, false},
		{"has missing", `[["arg_a","has","x"]]`, missing, false},
		{"! has missing", `[["arg_a","!","has","x"]]`, missing, true},
		{"has number", `[["arg_a","has",1]]`, `[1,2]`, true},
		{"has number 1.0", `[["arg_a","has",1]]`, `[1.0]`, true},
		{"has number vs string", `[["arg_a","has",1]]`, `["1"]`, false},
		{"has string vs number", `[["arg_a","has","1"]]`, `[1]`, false},
		{"has boolean", `[["arg_a","has",true]]`, `[true]`, true},
		{"has null", `[["arg_a","has",null]]`, `[null]`, false},
		{"has table", `[["arg_a","has",["x"]]]`, `[["x"]]`, false},
		{"HAS upper case", `[["arg_a","HAS","x"]]`, `["x"]`, true},
		// ipmatch
		{"ipmatch CIDR", `[["remote_addr","ipmatch","10.0.0.0/8"]]`, "10.1.2.3", true},
		{"ipmatch outside", `[["remote_addr","ipmatch","10.0.0.0/8"]]`, "11.0.0.1", false},
		{"ipmatch not an IP", `[["remote_addr","ipmatch","10.0.0.0/8"]]`, "bad", false},
		{"ipmatch empty", `[["remote_addr","ipmatch","10.0.0.0/8"]]`, "", false},
		{"ipmatch missing", `[["remote_addr","ipmatch","10.0.0.0/8"]]`, missing, false},
		{"! ipmatch missing", `[["remote_addr","!","ipmatch","10.0.0.0/8"]]`, missing, true},
		{"! ipmatch inside", `[["remote_addr","!","ipmatch","10.0.0.0/8"]]`, "10.0.0.1", false},
		{"ipmatch list", `[["remote_addr","ipmatch",["127.0.0.1","::1"]]]`, "127.0.0.1", true},
		{"ipmatch list v6", `[["remote_addr","ipmatch",["127.0.0.1","::1"]]]`, "::1", true},
		{"ipmatch bracketed v6", `[["remote_addr","ipmatch",["127.0.0.1","::1"]]]`, "[::1]", true},
		{"ipmatch bracketed v4", `[["remote_addr","ipmatch","127.0.0.1"]]`, "[127.0.0.1]", false},
		{"ipmatch exact miss", `[["remote_addr","ipmatch",["127.0.0.1","::1"]]]`, "127.0.0.2", false},
		{"ipmatch v6 CIDR", `[["remote_addr","ipmatch","2001:db8::/32"]]`, "2001:db8:1::5", true},
		{"ipmatch v6 CIDR miss", `[["remote_addr","ipmatch","2001:db8::/32"]]`, "2001:db9::5", false},
		{"ipmatch v6 CIDR /45", `[["remote_addr","ipmatch","2001:db8:8::/45"]]`, "2001:db8:f::1", true},
		{"ipmatch bracketed entry", `[["remote_addr","ipmatch","[::1]"]]`, "::1", true},
		{"ipmatch v4-mapped", `[["remote_addr","ipmatch","10.0.0.0/8"]]`, "::ffff:10.0.0.1", false},
		{"ipmatch leading zero", `[["remote_addr","ipmatch","10.0.0.0/8"]]`, "010.0.0.1", false},
		{"ipmatch zone", `[["remote_addr","ipmatch","fe80::/10"]]`, "fe80::1%eth0", false},
		{"ipmatch with port", `[["remote_addr","ipmatch","10.0.0.0/8"]]`, "10.0.0.1:80", false},
		{"ipmatch CIDR on left", `[["remote_addr","ipmatch","10.0.0.0/8"]]`, "10.0.0.1/32", false},
		{"ipmatch all v4", `[["remote_addr","ipmatch","0.0.0.0/0"]]`, "192.0.2.1", true},
		{"ipmatch all v4, v6 address", `[["remote_addr","ipmatch","0.0.0.0/0"]]`, "::1", false},
		{"ipmatch host bits", `[["remote_addr","ipmatch","10.1.2.3/8"]]`, "10.9.9.9", true},
		{"IPMATCH upper case", `[["remote_addr","IPMATCH","10.0.0.1"]]`, "10.0.0.1", true},
		// legacy [var, value]
		{"legacy lower-cases", `[["http_x","ABC"]]`, "abc", true},
		{"legacy lower-cases, upper value", `[["http_x","ABC"]]`, "ABC", false},
		{"legacy ASCII only", `[["http_x","ÄBC"]]`, "Äbc", true},
		{"legacy missing", `[["http_x","abc"]]`, missing, false},
		{"legacy number", `[["server_port",80]]`, "80", true},
		{"legacy number text", `[["server_port",1.5]]`, "1.5", true},
		{"legacy big number", `[["arg_a",1e15]]`, "1e+15", true},
		{"legacy big number decimal", `[["arg_a",1e15]]`, "1000000000000000", false},
		{"legacy operator name in", `[["arg_k","in"]]`, "in", false},
		{"legacy operator name ==", `[["arg_k","=="]]`, missing, true},
		{"legacy operator name == present", `[["arg_k","=="]]`, "==", false},
		{"legacy operator name ~=", `[["arg_k","~="]]`, "x", true},
		{"legacy bang", `[["arg_k","!"]]`, "!", true},
		// extra elements are ignored, as in Lua
		{"five elements", `[["arg_a","==","1","x","y"]]`, "1", true},
		// logical groups
		{"implicit AND", `[["arg_a","==","1"],["arg_b","==","1"]]`, "1", true},
		{"implicit AND one false", `[["arg_a","==","1"],["arg_b","==","2"]]`, "1", false},
		{"AND", `["AND",["arg_a","==","1"],["arg_b","==","1"]]`, "1", true},
		{"and lower case", `["and",["arg_a","==","1"],["arg_b","==","2"]]`, "1", false},
		{"OR one true", `["OR",["arg_a","==","2"],["arg_b","==","1"]]`, "1", true},
		{"OR none true", `["Or",["arg_a","==","2"],["arg_b","==","3"]]`, "1", false},
		{"!AND", `["!AND",["arg_a","==","1"],["arg_b","==","1"]]`, "1", false},
		{"!AND one false", `["!and",["arg_a","==","1"],["arg_b","==","2"]]`, "1", true},
		{"!OR one true", `["!OR",["arg_a","==","2"],["arg_b","==","1"]]`, "1", false},
		{"!OR none true", `["!or",["arg_a","==","2"],["arg_b","==","3"]]`, "1", true},
		{"!OR missing", `["!OR",["arg_a","==","2"],["arg_b","~~","x"]]`, missing, true},
		{"OR three", `["OR",["arg_a","==","2"],["arg_b","==","3"],["arg_c","==","1"]]`, "1", true},
		{"nested", `["OR",["AND",["arg_a","==","1"],["arg_b","==","2"]],["arg_c","==","1"]]`, "1", true},
		{"nested false", `["OR",["AND",["arg_a","==","1"],["arg_b","==","2"]],["arg_c","==","2"]]`, "1", false},
		{"nested implicit AND", `["OR",[["arg_a","==","1"],["arg_b","==","1"]],["arg_c","==","2"]]`, "1", true},
		{"implicit AND of groups", `[["OR",["arg_a","==","2"],["arg_b","==","1"]],["!AND",["arg_c","==","1"],["arg_d","==","2"]]]`, "1", true},
		{"deep", `[["AND",["OR",["!OR",["a","==","2"],["b","==","3"]],["c","==","4"]],["d","==","1"]]]`, "1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCompile(t, tt.rule)
			v := vars{}
			for _, n := range c.Names() {
				if tt.val != missing {
					v[n] = tt.val
				}
			}
			if got := c.Eval(v); got != tt.want {
				t.Errorf("Compile(%s).Eval(%q) = %v, want %v", tt.rule, tt.val, got, tt.want)
			}
		})
	}
}

func TestEvalMixed(t *testing.T) {
	rule := `[["arg_version","==","v2"],["http_x_env","~~","^dev"],` +
		`["remote_addr","ipmatch",["10.0.0.0/8","127.0.0.1"]],["server_port",">=",80]]`
	c := mustCompile(t, rule)
	ok := vars{"arg_version": "v2", "http_x_env": "devel", "remote_addr": "10.2.3.4", "server_port": "9080"}
	if !c.Eval(ok) {
		t.Errorf("Eval(%v) = false, want true", ok)
	}
	for _, name := range c.Names() {
		v := vars{}
		for k, s := range ok {
			v[k] = s
		}
		delete(v, name)
		if c.Eval(v) {
			t.Errorf("Eval without %s = true, want false", name)
		}
	}
	if c.Eval(nil) {
		t.Error("Eval(nil) = true, want false")
	}
}

func TestShortCircuit(t *testing.T) {
	tests := []struct {
		rule string
		vars vars
		want bool
		read []string
	}{
		{`["OR",["a","==","1"],["b","==","1"]]`, vars{"a": "1"}, true, []string{"a"}},
		{`["OR",["a","==","1"],["b","==","1"]]`, vars{"b": "1"}, true, []string{"a", "b"}},
		{`["AND",["a","==","1"],["b","==","1"]]`, vars{"b": "1"}, false, []string{"a"}},
		{`[["a","==","1"],["b","==","1"]]`, vars{}, false, []string{"a"}},
		{`["!OR",["a","==","1"],["b","==","1"]]`, vars{"a": "1"}, false, []string{"a"}},
		{`["!AND",["a","==","1"],["b","==","1"]]`, vars{}, true, []string{"a"}},
		{`["OR",["AND",["a","==","1"],["b","==","1"]],["c","==","1"]]`, vars{"c": "1"}, true, []string{"a", "c"}},
	}
	for _, tt := range tests {
		r := &recorder{vars: tt.vars}
		if got := mustCompile(t, tt.rule).Eval(r); got != tt.want || !slices.Equal(r.read, tt.read) {
			t.Errorf("Compile(%s).Eval(%v) = %v reading %v, want %v reading %v",
				tt.rule, tt.vars, got, r.read, tt.want, tt.read)
		}
	}
}

func TestNames(t *testing.T) {
	c := mustCompile(t, `[["a","==","1"],["OR",["b","in",[]],["a","==","2"]],["c","!","~~","x"]]`)
	want := []string{"a", "b", "c"}
	got := c.Names()
	if !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	got[0] = "changed"
	if c.Names()[0] != "a" {
		t.Error("Names() shares its slice with the Condition")
	}
}

func TestToNumber(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		s    string
		want float64 // nan with ok: NaN
		ok   bool
	}{
		{"0", 0, true},
		{"10", 10, true},
		{"007", 7, true},
		{"-0", math.Copysign(0, -1), true},
		{"+5", 5, true},
		{"-5", -5, true},
		{" 10", 10, true},
		{"10 ", 10, true},
		{"\t\n\v\f\r 10 \r\n", 10, true},
		{"1.5", 1.5, true},
		{".5", 0.5, true},
		{"5.", 5, true},
		{"0.", 0, true},
		{"-.5", -0.5, true},
		{"1e3", 1000, true},
		{"1E+3", 1000, true},
		{"1.5e-3", 0.0015, true},
		{"5.e1", 50, true},
		{"0.0100", 0.01, true},
		{"123456789012345678", 123456789012345678, true},
		{"9007199254740993", 9007199254740992, true},
		{"1e400", math.Inf(1), true},
		{"-1e400", math.Inf(-1), true},
		{"1e-400", 0, true},
		{"0x10", 16, true},
		{"0X1f", 31, true},
		{"-0x10", -16, true},
		{" 0x10 ", 16, true},
		{"0x1p4", 16, true},
		{"0x1P-1", 0.5, true},
		{"0x.8", 0.5, true},
		{"0x1.8", 1.5, true},
		{"0x0.0008", 0.0001220703125, true},
		{"0xffffffffffffffff", 18446744073709551615, true},
		{"0x1fffffffffffffffff", 0x1fffffffffffffffff, true},
		{"0x00", 0, true},
		{"0b101", 5, true},
		{"-0B11", -3, true},
		{"inf", math.Inf(1), true},
		{"-INF", math.Inf(-1), true},
		{"Infinity", math.Inf(1), true},
		{" +infinity ", math.Inf(1), true},
		{"nan", nan, true},
		{"-NaN", nan, true},
		{"", 0, false},
		{" ", 0, false},
		{".", 0, false},
		{"-", 0, false},
		{"+", 0, false},
		{"- 5", 0, false},
		{"1_000", 0, false},
		{"_1", 0, false},
		{"1e", 0, false},
		{"1e+", 0, false},
		{"e5", 0, false},
		{"1.2.3", 0, false},
		{"0x", 0, false},
		{"0x.", 0, false},
		{"0xg", 0, false},
		{"0x1e", 30, true},
		{"0x1p", 0, false},
		{"0b", 0, false},
		{"0b102", 0, false},
		{"0b1.1", 0, false},
		{"0b1e1", 0, false},
		{"010", 10, true},
		{"10u", 0, false},
		{"10ll", 0, false},
		{"10i", 0, false},
		{"1 0", 0, false},
		{"10\x00", 0, false},
		{"1\x002", 0, false},
		{"infinit", 0, false},
		{"infx", 0, false},
		{"nana", 0, false},
		{"abc", 0, false},
		{"true", 0, false},
		{"1e1048575", math.Inf(1), true},
		{"1e1048576", 0, false},
		{"1,5", 0, false},
	}
	for _, tt := range tests {
		got, ok := toNumber(tt.s)
		if ok != tt.ok {
			t.Errorf("toNumber(%q) ok = %v, want %v", tt.s, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if math.IsNaN(tt.want) {
			if !math.IsNaN(got) {
				t.Errorf("toNumber(%q) = %v, want NaN", tt.s, got)
			}
		} else if got != tt.want || math.Signbit(got) != math.Signbit(tt.want) {
			t.Errorf("toNumber(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestLuaNumberString(t *testing.T) {
	tests := map[float64]string{80: "80", 1.5: "1.5", 1e15: "1e+15", 1e14: "1e+14",
		123456789012: "123456789012", 0.1: "0.1", 1e-5: "1e-05", math.Inf(1): "inf"}
	for f, want := range tests {
		if got := luaNumberString(f); got != want {
			t.Errorf("luaNumberString(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestEvalDoesNotAllocate(t *testing.T) {
	tests := []struct {
		rule string
		val  string
	}{
		{`[["a","==","v2"]]`, "v2"},
		{`[["a","~=","v2"]]`, "v3"},
		{`[["a","==",18]]`, " 18 "},
		{`[["a",">=",80]]`, "9080"},
		{`[["a","<",16]]`, "0x0f"},
		{`[["a","~~","^dev"]]`, "devel"},
		{`[["a","~*","^DEV"]]`, "devel"},
		{`[["a","in",["x","y","z"]]]`, "z"},
		{`[["a","ipmatch",["10.0.0.0/8","127.0.0.1"]]]`, "127.0.0.1"},
		{`[["a","ipmatch","2001:db8::/32"]]`, "[2001:db8::1]"},
		{`["OR",["a","==","x"],["!AND",["a","==","y"],["a","!","==","z"]]]`, "q"},
	}
	for _, tt := range tests {
		c := mustCompile(t, tt.rule)
		v := vars{"a": tt.val}
		if n := testing.AllocsPerRun(100, func() { c.Eval(v) }); n != 0 {
			t.Errorf("Compile(%s).Eval(%q): %v allocs, want 0", tt.rule, tt.val, n)
		}
	}
}

func TestCondition_hammer(t *testing.T) {
	c := mustCompile(t, `["OR",[["arg_a","~~","^x\\d+$"],["remote_addr","ipmatch","10.0.0.0/8"]],["arg_b","has","k"]]`)
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

// benchVars is a map-free Vars, as a request context would be.
type benchVars struct {
	version, env, addr, port string
}

func (b *benchVars) Var(name string) (string, bool) {
	switch name {
	case "arg_version":
		return b.version, true
	case "http_x_env":
		return b.env, true
	case "remote_addr":
		return b.addr, true
	case "server_port":
		return b.port, true
	}
	return "", false
}

func BenchmarkEval(b *testing.B) {
	c := mustCompile(b, `[["arg_version","==","v2"],["http_x_env","~~","^dev"],`+
		`["remote_addr","ipmatch",["10.0.0.0/8","127.0.0.1"]],["server_port",">=",80]]`)
	v := &benchVars{version: "v2", env: "development", addr: "127.0.0.1", port: "9080"}
	if !c.Eval(v) {
		b.Fatal("Eval = false, want true")
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Eval(v)
	}
}

func BenchmarkCompile(b *testing.B) {
	raw := json.RawMessage(`[["arg_version","==","v2"],["http_x_env","~~","^dev"],` +
		`["remote_addr","ipmatch",["10.0.0.0/8","127.0.0.1"]],["server_port",">=",80]]`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`[]`, `null`, `"x"`, `[[]]`, `["OR",["a","==","1"],["b","~~","^x"]]`,
		`[["a","!","in",[1,"2",null]]]`, `[["a","ipmatch",["10.0.0.0/8","::1","[::1]/64"]]]`,
		`[["a","has",1]]`, `[["a",">=","0x10"]]`, `[["a","ABC"]]`, `[["a",80]]`,
		`["!AND",[["a","~*","B"],["b","~=",null]],["c","<",1e400]]`,
	} {
		f.Add([]byte(s), "1")
		f.Add([]byte(s), `[1,"x",true]`)
	}
	f.Fuzz(func(t *testing.T, raw []byte, val string) {
		c, err := Compile(raw)
		if err != nil {
			if c != nil {
				t.Fatalf("Compile(%q) returned a Condition with error %v", raw, err)
			}
			return
		}
		c.Eval(vars{})
		v := vars{}
		for _, n := range c.Names() {
			v[n] = val
		}
		c.Eval(v)
		c.Eval(nil)
		toNumber(val)
	})
}
