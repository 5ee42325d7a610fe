// Package condition owns APISIX's condition arrays – route `vars`, plugin `_meta.filter`,
// traffic-split `match[].vars`, response-rewrite `vars` – with the semantics of
// lua-resty-expr 1.3.2 (lib/resty/expr/v1.lua, the version APISIX pins). Compile turns the
// JSON array into a tree with every rule value folded in (numbers converted, regexes
// compiled, CIDRs parsed); Eval walks it against a Vars.
//
// It must not resolve variables itself, import other Portico packages, log, or keep state
// between evaluations: a Condition is immutable and safe for concurrent use. Compile runs
// when configuration is written or a snapshot is built, never per request. Eval does not
// allocate except for `has` (and whatever the Vars implementation does).
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
//     "" and {}, whose Lua length is 0). A top level that is not an array is refused ("rule
//     must be an array"; APISIX's schemas refuse it too); a JSON string is reserved for a
//     textual form ("string expressions are not supported yet"). JSON null or no input
//     compiles to a nil Condition, which is always true.
package condition
