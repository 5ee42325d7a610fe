// Package condition owns conditions – route `vars`, plugin `_meta.filter`, traffic-split
// `match[].vars`, response-rewrite `vars` – in two forms with one type, *Condition:
// APISIX's arrays, with the semantics of lua-resty-expr 1.3.2 (lib/resty/expr/v1.lua, the
// version APISIX pins), and a JSON string holding an expression users can read (see "The
// string form"). Compile turns the array into a tree with every rule value folded in
// (numbers converted, regexes compiled, CIDRs parsed); Eval walks it against a Vars.
//
// It must not resolve variables itself, import other Portico packages, log, or keep state
// between evaluations: a Condition is immutable and safe for concurrent use (the string
// form's per-evaluation state is pooled). Compile runs when configuration is written or
// a snapshot is built, never per request. For the array form Eval does not allocate
// except for `has` (and whatever the Vars implementation does); the string form
// allocates once (expr's argument buffer) plus the values lower, upper, int, now and ??
// make.
//
// # Rule shape (as lua-resty-expr)
//
//   - The top level is `[]` (always true), an array of rules (implicit AND) or a logical
//     group headed by AND, OR, !AND or !OR (any case). A bare expression at the top is
//     "rule should be wrapped inside brackets". A group needs two operands ("rule too short");
//     `[[]]` is "rule too short" too.
//   - An expression is [var, op, value] or [var, "!", op, value]; a 4-element array whose
//     second element is not "!" is "bad 'not' expression". "!" inverts the operator's result,
//     the result for a missing variable included. Elements after the third of a 3+ element
//     expression that is not a "!" form are ignored, as in Lua.
//   - [var, value] is the legacy form of ==. Because Lua lower-cases the operator slot before
//     reusing it as the value, the value is lower-cased (ASCII only). A number there compares
//     as its Lua tostring text ("%.14g"): ["server_port", 80] matches "80". When the second
//     element is an operator name (["arg_k","in"]) it is that operator with a nil value.
//   - Operators (any case): == ~= > >= < <= ~~ ~* in has ipmatch; any other is
//     "invalid operator '<op lower-cased>'". [var] alone is "invalid expression".
//   - Short-circuit: AND stops at the first false operand, OR at the first true one.
//
// # Values
//
// Variables are strings or missing (Lua nil). JSON null as a rule value is Lua nil:
// == null is true when the variable is missing, ~= null when it is present. A number rule
// value makes == and ~= convert the variable with LuaJIT's tonumber (surrounding ASCII
// whitespace, 0x hex with p exponent, 0b binary, inf/infinity/nan; no '_', no suffix); a
// variable that does not convert is not equal. > >= < <= convert both sides and are false
// when either does not convert. A string never equals a number, a boolean or an array, so
// `in` only looks at the string members of its list and ["arg_x","==",true] is never true.
//
// # Decisions where Portico differs from APISIX
//
//   - Regexes are Go regexp (RE2), compiled by Compile; ~* adds (?i). A pattern RE2 cannot
//     compile (look-around, backreferences, possessive or atomic groups, \Z, …) is refused
//     with `invalid regex "<pattern>": <reason>`, where APISIX would accept it (PCRE) or,
//     when PCRE cannot compile it either, evaluate it to false on every request. RE2's $
//     without (?m) matches only at the very end (PCRE's also before a final "\n"); RE2 works
//     on UTF-8 code points where PCRE without the u flag works on bytes; (?i) folds Unicode.
//   - A regex value that is not a string (["arg_x","~~"], a number, null) raises a Lua
//     error at each evaluation in APISIX; it is refused at compile time here.
//   - `has` needs an array on the left (graphql_root_fields, JSONPath post_arg results);
//     Vars returns strings, so a value whose first byte is '[' is decoded as a JSON array
//     (once per evaluation: the one operator that allocates) and the members compared with
//     Lua equality; any other value is false.
//   - ipmatch takes a string or a non-empty array of IPv4/IPv6 addresses and CIDRs;
//     nil, "" and [] are "invalid ip address", a bad entry "invalid ip address: <address>".
//     A prefix length must be plain decimal within 0–32 or 0–128 (ipmatcher reads a bad one
//     as none or shifts by garbage); such an entry is refused naming the whole entry. Host
//     bits are ignored. The variable may be an IPv6 literal in [brackets]; zones and IPv4
//     with leading zeros are refused (inet_pton). An IPv4-mapped IPv6 address does not
//     match an IPv4 entry, as in ipmatcher.
//   - Shapes on which lua-resty-expr raises a Lua error at compile time – a variable name
//     that is not a string, an operator slot that is not a string or number, a sub-rule that
//     is a string, number, boolean or null – are "invalid expression" ("rule too short" for
//     "" and {}, whose Lua length is 0). A top level that is neither an array nor a string
//     is refused ("rule must be an array"; APISIX's schemas refuse it too). JSON null or no
//     input compiles to a nil Condition, which is always true.
//
// # The string form
//
// A JSON string is an expr-lang (github.com/expr-lang/expr) expression, for example
//
//	"http_x_env == 'canary' && arg_region in ['eu','us'] && ipmatch(remote_addr, '10.0.0.0/8')"
//
// It is parsed and checked once by expr.Compile (AsBool, at most 1000 nodes, at most
// 16 KiB); a mistake is a *PosError, "line 1, column 12: <what>", so the Admin API can
// say which field and where. A rewriter (an expr.Patch visitor) then turns every
// identifier into a call of an accessor on the environment, so a variable is read only
// when the evaluation reaches it (&&, ||, ?: and ?? short-circuit) and no map is built
// per request; the Env exposes nothing else (no struct reflection). Each evaluation
// takes a vm.VM and its environment from a sync.Pool. Predicates on a variable and a
// literal, joined by && || !, are folded into one Go tree that the VM calls once, so an
// expression in the style of the array form costs about twice the array form (one
// allocation, expr's argument buffer).
//
// Identifiers are variables of Portico's namespace, any name (uri, arg_*, http_*,
// cookie_*, uri_param_*, post_arg_*, graphql_*, remote_addr, …; post_arg.<path> JSONPaths
// are checked by Compile). A variable is a string, or nil when missing.
// var("post_arg.user.name") reads a variable whose name is not an identifier. Literals:
// strings ('…', "…", `…`), numbers, true, false, nil, and lists of those ([…]).
//
// The comparison rule, the one rule for == != in has:
//
//   - When either side of == is a number, both sides go through LuaJIT's tonumber (the
//     array form's: a string converts, nil and booleans do not); equal when both
//     convert to the same number. Otherwise == needs the same type and value: strings
//     byte for byte, nil == nil, booleans. A missing variable == nil is true.
//   - a != b is !(a == b).
//   - < <= > >= put both sides through tonumber and are false when either does not
//     convert (ordering is numeric only; "a" < "b" is false).
//   - x in list and has(list, x) are true when some member == x.
//
// So a comparison never fails: no type error is left for evaluation. A value that cannot
// take part where it stands (a variable as an operand of &&, a list compared with ==, a
// number given to lower) is refused at compile time with its position. EvalErr can still
// fail when a Vars implementation panics: Eval then says false (a route does not match);
// a _meta.filter caller uses EvalErr and runs the plugin (fail-open, as APISIX).
//
// Operators: && || ! (and, or, not), == != < <= > >=, in and not in (right side: a list
// literal), matches (a string literal, compiled by Compile; a pattern computed at run
// time is refused rather than cached), startsWith endsWith contains, ?? (a ?? b is b
// when a is nil), c ? a : b and if/else, a chain such as 1 < arg_x < 3. Unary - and + on
// number literals only. Not supported, and refused at compile time: arithmetic, string
// concatenation, member access and indexing, maps, let, closures and predicates
// (all, filter, #), and expr's builtins other than these helpers:
//
//	| helper                 | result                                                  |
//	|------------------------|---------------------------------------------------------|
//	| ipmatch(addr, cidrs)   | addr (a string) is in cidrs, an address or CIDR literal |
//	|                        | or a list of them, parsed by Compile as the array form's |
//	|                        | ipmatch; false when addr is nil or no address            |
//	| has(list, x)           | some member of list == x; list is a list literal or a    |
//	|                        | string holding a JSON array (graphql_root_fields),       |
//	|                        | decoded at each evaluation; false for anything else      |
//	| lower(s), upper(s)     | s in lower/upper case (Unicode); nil stays nil           |
//	| hasPrefix(s, p)        | s starts with p; false when either is nil (also          |
//	| hasSuffix(s, p)        | s startsWith p, s endsWith p; s contains p)              |
//	| s matches re           | re (RE2, as the array form's ~~; (?i) for ~*) is found   |
//	|                        | in s; false when s is nil. expr's grammar makes matches  |
//	|                        | an operator: matches(s, re) does not parse               |
//	| len(x)                 | characters of a string, members of a list; len(nil) = 0  |
//	| int(x)                 | tonumber(x) truncated toward zero; nil when x does not   |
//	|                        | convert or does not fit an int64                         |
//	| now()                  | the time in Unix seconds                                 |
//	| var(name)              | the variable name (a string literal)                     |
//
// Differences from the array form on the same variables: in and has compare with ==, so
// "1" in [1, 2] is true (the array form's in ignores numbers in its list, and its has
// does not convert), and nil in [nil] is true. The legacy [var, value] shape has no
// counterpart.
package condition
