package condition

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Limits on an expression, checked when it is compiled: its length in bytes, and its AST
// nodes as expr.MaxNodes counts them while parsing. The length limit comes first because
// expr's parser recurses on unary operators before it counts nodes (100 KB of "!" takes
// most of a second).
const (
	maxSource = 16 << 10
	maxNodes  = 1000
)

// PosError is a write-time error in a string expression (or, from EvalErr, the place an
// evaluation failed). Line and Column count from 1; Column counts characters.
type PosError struct {
	Line, Column int
	Msg          string
}

func (e *PosError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// compileExpr compiles the string form. The rewriter turns every variable into a call of
// the accessor and every operator whose meaning differs from expr's (==, <, in, …) into
// a call of a helper; expr parses, checks and runs the bytecode.
func compileExpr(src string) (*Condition, error) {
	if len(src) > maxSource {
		return nil, &PosError{Line: 1, Column: 1,
			Msg: fmt.Sprintf("the expression is longer than %d bytes", maxSource)}
	}
	rw := &rewriter{seen: map[string]int{}}
	opts := append(slices.Clip(exprOptions),
		expr.Patch(rw), expr.MaxNodes(maxNodes), expr.AsBool())
	prog, err := expr.Compile(src, opts...)
	// The rewriter runs only once parsing succeeded; its messages are more precise than
	// the checker's, which sees the rewritten tree.
	if rw.err == nil && rw.root != nil {
		if k := rw.kind(rw.root); k != kBool {
			rw.fail(rw.root, "the expression must be a condition (true or false), not %s", k)
		}
	}
	if rw.err != nil {
		return nil, rw.err.bind(src)
	}
	if err != nil {
		return nil, toPosError(src, err)
	}
	slices.SortStableFunc(rw.names, func(a, b string) int { return rw.seen[a] - rw.seen[b] })
	return &Condition{prog: prog, slots: rw.slots, names: rw.names}, nil
}

func toPosError(src string, err error) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return err
	}
	if fe.Line == 0 {
		fe.Bind(file.NewSource(src))
	}
	return &PosError{Line: fe.Line, Column: fe.Column + 1, Msg: fe.Message}
}

// predicates are the two-operand helpers, by internal name. The rewriter calls them
// through expr (_eq(a, b)) or, when one operand is a variable and the other a constant,
// from a tree (see tree).
var predicates = map[string]func(a, b any) bool{
	"_eq":  equal,
	"_ne":  func(a, b any) bool { return !equal(a, b) },
	"_lt":  func(a, b any) bool { x, y, ok := numbers(a, b); return ok && x < y },
	"_le":  func(a, b any) bool { x, y, ok := numbers(a, b); return ok && x <= y },
	"_gt":  func(a, b any) bool { x, y, ok := numbers(a, b); return ok && x > y },
	"_ge":  func(a, b any) bool { x, y, ok := numbers(a, b); return ok && x >= y },
	"_in":  func(x, l any) bool { return inList(x, l.([]any)) },
	"_has": has,
	"_ipmatch": func(a, p any) bool {
		s, ok := asString(a)
		return ok && matchPrefixes(p.([]netip.Prefix), s)
	},
	"_matches": func(a, re any) bool {
		s, ok := asString(a)
		return ok && re.(*regexp.Regexp).MatchString(s)
	},
	"_hasPrefix": stringTest(strings.HasPrefix),
	"_hasSuffix": stringTest(strings.HasSuffix),
	"_contains":  stringTest(strings.Contains),
}

// exprOptions is what every expression sees: an Env with nothing in it (no struct
// reflection: variables are read through the accessor only), no expr builtins, and the
// internal helpers the rewriter calls. Their names start with "_", which the rewriter
// does not let a user call.
var exprOptions = func() []expr.Option {
	opts := []expr.Option{
		expr.Env(&env{}),
		expr.DisableAllBuiltins(),
		expr.Function("_var", fnVar, new(func(any, any) any)),
		expr.Function("_tree", fnTree, new(func(any, any) bool)),
		expr.Function("_lower", mapString(strings.ToLower), new(func(any) any)),
		expr.Function("_upper", mapString(strings.ToUpper), new(func(any) any)),
		expr.Function("_len", fnLen, new(func(any) int)),
		expr.Function("_int", fnInt, new(func(any) any)),
		expr.Function("_now", func(...any) (any, error) { return int(time.Now().Unix()), nil }, new(func() int)),
	}
	for name, f := range predicates {
		opts = append(opts, expr.Function(name,
			func(p ...any) (any, error) { return f(p[0], p[1]), nil }, new(func(any, any) bool)))
	}
	return opts
}()

// env is the environment of one evaluation: the request's variables and one string slot
// per variable occurrence in the expression. The accessor returns a pointer into vals, so
// a variable's value reaches the helpers without being boxed (no allocation).
type env struct {
	vars Vars
	vals []string
}

// varRef is the accessor's constant argument: which variable, which slot.
type varRef struct {
	name string
	slot int
}

// fnVar is the accessor: _var($env, ref) is ref's variable as a *string, or nil when missing.
func fnVar(p ...any) (any, error) {
	e, r := p[0].(*env), p[1].(*varRef)
	s, ok := e.vars.Var(r.name)
	if !ok {
		return nil, nil
	}
	e.vals[r.slot] = s
	return &e.vals[r.slot], nil
}

// tree is the part of an expression that needs no VM: predicates on a variable and a
// constant (leaves), joined by && || and !. The rewriter folds such a part into one
// call, _tree($env, tree), evaluated in Go with the same short-circuits as the VM, so a
// condition in the style of the array form costs one VM call.
type tree struct {
	kids []*tree // a group; nil for a leaf
	or   bool    // the group is an OR; else an AND
	not  bool    // the result is negated
	leaf leaf
}

// leaf is test(variable, arg).
type leaf struct {
	ref  varRef
	test func(a, b any) bool
	arg  any
}

func (t *tree) eval(e *env) bool {
	var r bool
	if t.kids == nil {
		if s, ok := e.vars.Var(t.leaf.ref.name); ok {
			e.vals[t.leaf.ref.slot] = s
			r = t.leaf.test(&e.vals[t.leaf.ref.slot], t.leaf.arg)
		} else {
			r = t.leaf.test(nil, t.leaf.arg)
		}
	} else {
		r = !t.or
		for _, k := range t.kids {
			if k.eval(e) == t.or { // AND stops at the first false, OR at the first true
				r = t.or
				break
			}
		}
	}
	return r != t.not
}

func fnTree(p ...any) (any, error) {
	return p[1].(*tree).eval(p[0].(*env)), nil
}

// runner is one goroutine's VM and env, pooled: an evaluation allocates neither.
type runner struct {
	vm  vm.VM
	env env
}

var runners = sync.Pool{New: func() any { return new(runner) }}

func (c *Condition) evalExpr(v Vars) (bool, error) {
	r := runners.Get().(*runner)
	r.env.vars = v
	if cap(r.env.vals) < c.slots {
		r.env.vals = make([]string, c.slots)
	}
	r.env.vals = r.env.vals[:c.slots]
	out, err := r.vm.Run(c.prog, &r.env)
	clear(r.env.vals)
	r.env.vars = nil
	runners.Put(r)
	if err != nil {
		return false, toPosError(c.prog.Source().String(), err)
	}
	b, ok := out.(bool)
	if !ok { // the rewriter makes this impossible; do not trust it with a panic
		return false, fmt.Errorf("condition gave %T, not a boolean", out)
	}
	return b, nil
}

// The comparison rule. Values are nil (a missing variable, the literal nil), strings,
// numbers, booleans and literal lists.
//
//   - a == b: when either side is a number, both go through tonumber (LuaJIT's: a string
//     converts, nil and booleans do not) and are equal when both convert to the same
//     number. Otherwise they are equal when of the same type and value: nil == nil,
//     strings byte for byte, booleans. A list equals nothing.
//   - a != b is !(a == b).
//   - < <= > >=: both sides through tonumber; false when either does not convert.
//   - x in list, has(list, x): some member m with x == m.
func equal(a, b any) bool {
	if isNumber(a) || isNumber(b) {
		x, y, ok := numbers(a, b)
		return ok && x == y
	}
	if s, ok := asString(a); ok {
		t, ok := asString(b)
		return ok && s == t
	}
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		t, ok := b.(bool)
		return ok && a == t
	}
	return false
}

func isNumber(x any) bool {
	switch x.(type) {
	case int, float64:
		return true
	}
	return false
}

// number is tonumber(x): numbers as they are, strings through toNumber, nothing else.
func number(x any) (float64, bool) {
	switch t := x.(type) {
	case int:
		return float64(t), true
	case float64:
		return t, true
	case string:
		return toNumber(t)
	case *string:
		return toNumber(*t)
	}
	return 0, false
}

func numbers(a, b any) (float64, float64, bool) {
	x, ok := number(a)
	if !ok {
		return 0, 0, false
	}
	y, ok := number(b)
	return x, y, ok
}

// asString reads a string value: a literal or helper result (string) or a variable (*string).
func asString(x any) (string, bool) {
	switch t := x.(type) {
	case string:
		return t, true
	case *string:
		return *t, true
	}
	return "", false
}

func inList(x any, list []any) bool {
	for _, m := range list {
		if equal(x, m) {
			return true
		}
	}
	return false
}

// has is has(list, x): list is a literal list, or a string holding a JSON array (as
// graphql_root_fields or a JSONPath post_arg), decoded at each evaluation as the array
// form's has does.
func has(list, x any) bool {
	if l, ok := list.([]any); ok {
		return inList(x, l)
	}
	s, ok := asString(list)
	if !ok || len(s) == 0 || s[0] != '[' {
		return false
	}
	var elems []any
	if err := json.Unmarshal([]byte(s), &elems); err != nil {
		return false
	}
	return inList(x, elems)
}

// stringTest makes hasPrefix and the like: false unless both sides are strings.
func stringTest(f func(s, t string) bool) func(a, b any) bool {
	return func(a, b any) bool {
		s, ok := asString(a)
		if !ok {
			return false
		}
		t, ok := asString(b)
		return ok && f(s, t)
	}
}

// mapString makes lower and upper: nil stays nil.
func mapString(f func(string) string) func(...any) (any, error) {
	return func(p ...any) (any, error) {
		if s, ok := asString(p[0]); ok {
			return f(s), nil
		}
		return nil, nil
	}
}

// fnLen is len(x): characters of a string, members of a list; nil has length 0.
func fnLen(p ...any) (any, error) {
	switch t := p[0].(type) {
	case []any:
		return len(t), nil
	}
	s, _ := asString(p[0])
	return utf8.RuneCountInString(s), nil
}

// fnInt is int(x): tonumber, truncated toward zero; nil when it does not convert or
// does not fit an int64.
func fnInt(p ...any) (any, error) {
	f, ok := number(p[0])
	if !ok || math.IsNaN(f) || f >= 1<<63 || f < -(1<<63) {
		return nil, nil
	}
	return int(f), nil
}

// kind is the set of value types a node may produce, known at compile time.
type kind uint8

const (
	kNil kind = 1 << iota
	kStr
	kNum
	kBool
	kList

	kVar = kStr | kNil // a variable: a string, or nil when missing
)

func (k kind) String() string {
	var parts []string
	for _, p := range []struct {
		k    kind
		name string
	}{{kStr, "a string"}, {kNum, "a number"}, {kBool, "a condition"}, {kList, "a list"}, {kNil, "nil"}} {
		if k&p.k != 0 {
			parts = append(parts, p.name)
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, " or ")
}

// posErr is a rewriter error before it is bound to the source.
type posErr struct {
	loc file.Location
	msg string
}

func (e *posErr) bind(src string) *PosError {
	fe := (&file.Error{Location: e.loc, Message: e.msg}).Bind(file.NewSource(src))
	return &PosError{Line: fe.Line, Column: fe.Column + 1, Msg: e.msg}
}

// rewriter is the expr.Patch visitor. ast.Walk visits children before their parent, so
// when a node is visited the kinds of its operands are known; a node outside the
// language is refused there, with its position. Identifiers are left alone until their
// parent turns them into accessor calls (operand), because a callee is an identifier too.
type rewriter struct {
	err   *posErr
	kinds map[ast.Node]kind
	seen  map[string]int // variable name → offset of its first occurrence
	names []string
	slots int
	root  ast.Node // the last node visited
}

func (r *rewriter) fail(n ast.Node, format string, args ...any) {
	if r.err == nil {
		r.err = &posErr{loc: n.Location(), msg: fmt.Sprintf(format, args...)}
	}
}

func (r *rewriter) set(np *ast.Node, n ast.Node, k kind) {
	ast.Patch(np, n)
	if r.kinds == nil {
		r.kinds = map[ast.Node]kind{}
	}
	r.kinds[n] = k
}

// kind is what a node produces; a bare identifier is a variable.
func (r *rewriter) kind(n ast.Node) kind {
	if _, ok := n.(*ast.IdentifierNode); ok {
		return kVar
	}
	return r.kinds[n]
}

func call(name string, args ...ast.Node) *ast.CallNode {
	return &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: args}
}

// operand turns an identifier in an operand slot into an accessor call and returns the
// operand's kind.
func (r *rewriter) operand(np *ast.Node) kind {
	id, ok := (*np).(*ast.IdentifierNode)
	if !ok {
		return r.kind(*np)
	}
	r.variable(np, id.Value, id.Location())
	return kVar
}

func (r *rewriter) variable(np *ast.Node, name string, loc file.Location) {
	if name == "" || name[0] == '$' {
		r.fail(*np, "unknown name %s", name)
		return
	}
	if at, ok := r.seen[name]; !ok || loc.From < at {
		if !ok {
			r.names = append(r.names, name)
		}
		r.seen[name] = loc.From
	}
	ref := &ast.ConstantNode{Value: &varRef{name: name, slot: r.slots}}
	r.slots++
	r.set(np, call("_var", &ast.IdentifierNode{Value: "$env"}, ref), kVar)
}

// want checks an operand's kind against what its position accepts.
func (r *rewriter) want(np *ast.Node, allowed kind, what string) bool {
	k := r.operand(np)
	if k&^allowed != 0 || k == 0 {
		r.fail(*np, "%s must be %s, not %s", what, allowed, k)
		return false
	}
	return true
}

var binaryHelpers = map[string]string{
	"==": "_eq", "!=": "_ne", "<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge",
	"startsWith": "_hasPrefix", "endsWith": "_hasSuffix", "contains": "_contains",
}

// Visit implements ast.Visitor.
func (r *rewriter) Visit(np *ast.Node) {
	r.root = *np
	if r.err != nil {
		return
	}
	switch n := (*np).(type) {
	case *ast.IdentifierNode:
		// a variable or a callee: the parent decides
	case *ast.NilNode:
		r.set(np, n, kNil)
	case *ast.BoolNode:
		r.set(np, n, kBool)
	case *ast.IntegerNode, *ast.FloatNode:
		r.set(np, n, kNum)
	case *ast.StringNode:
		r.set(np, n, kStr)
	case *ast.ArrayNode:
		for _, m := range n.Nodes {
			if _, ok := literal(m); !ok {
				r.fail(m, "a list may hold only strings, numbers, true, false and nil")
				return
			}
		}
		r.set(np, n, kList)
	case *ast.UnaryNode:
		r.unary(np, n)
	case *ast.BinaryNode:
		r.binary(np, n)
	case *ast.ConditionalNode:
		if r.want(&n.Cond, kBool, "the condition of ?:") {
			k1, k2 := r.operand(&n.Exp1), r.operand(&n.Exp2)
			r.set(np, n, k1|k2)
		}
	case *ast.CallNode:
		r.call(np, n)
	case *ast.MemberNode, *ast.ChainNode, *ast.SliceNode:
		r.fail(n, "member access, indexing and slicing are not supported (variables are strings; use var(\"name\") for a name that is not an identifier)")
	case *ast.PredicateNode, *ast.PointerNode:
		r.fail(n, "predicates and # are not supported")
	case *ast.BuiltinNode:
		r.fail(n, "unknown function %s", n.Name)
	case *ast.MapNode, *ast.PairNode:
		r.fail(n, "maps are not supported")
	case *ast.VariableDeclaratorNode, *ast.SequenceNode:
		r.fail(n, "let and ; are not supported")
	default:
		r.fail(n, "%s is not supported", strings.TrimPrefix(fmt.Sprintf("%T", n), "*ast."))
	}
	r.root = *np
}

// literal is the value of a literal list member.
func literal(n ast.Node) (any, bool) {
	switch t := n.(type) {
	case *ast.NilNode:
		return nil, true
	case *ast.BoolNode:
		return t.Value, true
	case *ast.IntegerNode:
		return t.Value, true
	case *ast.FloatNode:
		return t.Value, true
	case *ast.StringNode:
		return t.Value, true
	}
	return nil, false
}

func (r *rewriter) unary(np *ast.Node, n *ast.UnaryNode) {
	switch n.Operator {
	case "!", "not":
		if r.want(&n.Node, kBool, "the operand of "+n.Operator) {
			if t, ok := treeOf(n.Node); ok {
				nt := *t
				nt.not = !nt.not
				r.set(np, treeCall(&nt), kBool)
				return
			}
			r.set(np, n, kBool)
		}
	case "-", "+":
		neg := n.Operator == "-"
		switch t := n.Node.(type) {
		case *ast.IntegerNode:
			if neg {
				r.set(np, &ast.IntegerNode{Value: -t.Value}, kNum)
			} else {
				r.set(np, t, kNum)
			}
			return
		case *ast.FloatNode:
			if neg {
				r.set(np, &ast.FloatNode{Value: -t.Value}, kNum)
			} else {
				r.set(np, t, kNum)
			}
			return
		}
		r.fail(n, "%s applies only to a number literal (there is no arithmetic)", n.Operator)
	default:
		r.fail(n, "operator %s is not supported", n.Operator)
	}
}

func (r *rewriter) binary(np *ast.Node, n *ast.BinaryNode) {
	op := n.Operator
	switch op {
	case "&&", "and", "||", "or":
		if r.want(&n.Left, kBool, "the left side of "+op) && r.want(&n.Right, kBool, "the right side of "+op) {
			if t, ok := join(n.Left, n.Right, op == "||" || op == "or"); ok {
				r.set(np, t, kBool)
				return
			}
			r.set(np, n, kBool)
		}
	case "==", "!=", "<", "<=", ">", ">=":
		if r.want(&n.Left, kNil|kStr|kNum|kBool, "the left side of "+op) &&
			r.want(&n.Right, kNil|kStr|kNum|kBool, "the right side of "+op) {
			r.set(np, predicate(binaryHelpers[op], n.Left, n.Right), kBool)
		}
	case "startsWith", "endsWith", "contains":
		if r.want(&n.Left, kVar, "the left side of "+op) && r.want(&n.Right, kVar, "the right side of "+op) {
			r.set(np, predicate(binaryHelpers[op], n.Left, n.Right), kBool)
		}
	case "in":
		if !r.want(&n.Left, kNil|kStr|kNum|kBool, "the left side of in") {
			return
		}
		list, ok := r.list(n.Right, "the right side of in")
		if ok {
			r.set(np, predicate("_in", n.Left, list), kBool)
		}
	case "matches":
		if !r.want(&n.Left, kVar, "the left side of matches") {
			return
		}
		if re, ok := r.regex(n.Right); ok {
			r.set(np, predicate("_matches", n.Left, re), kBool)
		}
	case "??":
		kl := r.operand(&n.Left)
		kr := r.operand(&n.Right)
		if (kl|kr)&kList != 0 {
			r.fail(n, "?? does not take a list")
			return
		}
		r.set(np, n, kl&^kNil|kr)
	default:
		r.fail(n, "operator %s is not supported", op)
	}
}

// list folds a literal list into a constant.
func (r *rewriter) list(n ast.Node, what string) (ast.Node, bool) {
	a, ok := n.(*ast.ArrayNode)
	if !ok {
		r.fail(n, "%s must be a list literal such as [\"a\", \"b\"]", what)
		return nil, false
	}
	vals := make([]any, len(a.Nodes))
	for i, m := range a.Nodes {
		vals[i], _ = literal(m) // checked when the list was visited
	}
	c := &ast.ConstantNode{Value: vals}
	c.SetLocation(a.Location())
	return c, true
}

// regex compiles a literal pattern once; a pattern computed at evaluation is refused.
func (r *rewriter) regex(n ast.Node) (ast.Node, bool) {
	s, ok := n.(*ast.StringNode)
	if !ok {
		r.fail(n, "the pattern of matches must be a string literal")
		return nil, false
	}
	re, err := regexp.Compile(s.Value)
	if err != nil {
		r.fail(n, "invalid regex %q: %v", s.Value, unwrapRegexErr(err))
		return nil, false
	}
	return &ast.ConstantNode{Value: re}, true
}

// predicate is the call of a two-operand helper. A variable compared with a constant
// (either way round) becomes one _leaf call.
func predicate(name string, a, b ast.Node) ast.Node {
	if flipped, ok := flips[name]; ok {
		if ref, ok := varOf(b); ok {
			if v, ok := constant(a); ok {
				return fused(ref, flipped, v)
			}
		}
	}
	if ref, ok := varOf(a); ok {
		if v, ok := constant(b); ok {
			return fused(ref, name, v)
		}
	}
	return call(name, a, b)
}

// flips are the predicates that can take their operands the other way round.
var flips = map[string]string{
	"_eq": "_eq", "_ne": "_ne", "_lt": "_gt", "_le": "_ge", "_gt": "_lt", "_ge": "_le",
}

func fused(ref *varRef, name string, arg any) ast.Node {
	return treeCall(&tree{leaf: leaf{ref: *ref, test: predicates[name], arg: arg}})
}

func treeCall(t *tree) ast.Node {
	return call("_tree", &ast.IdentifierNode{Value: "$env"}, &ast.ConstantNode{Value: t})
}

// treeOf is the tree a _tree call evaluates.
func treeOf(n ast.Node) (*tree, bool) {
	c, ok := n.(*ast.CallNode)
	if !ok || len(c.Arguments) != 2 {
		return nil, false
	}
	if id, ok := c.Callee.(*ast.IdentifierNode); !ok || id.Value != "_tree" {
		return nil, false
	}
	k, ok := c.Arguments[1].(*ast.ConstantNode)
	if !ok {
		return nil, false
	}
	t, ok := k.Value.(*tree)
	return t, ok
}

// join folds a && b or a || b into one tree when both sides are trees, flattening
// groups of the same kind.
func join(a, b ast.Node, or bool) (ast.Node, bool) {
	ta, ok := treeOf(a)
	if !ok {
		return nil, false
	}
	tb, ok := treeOf(b)
	if !ok {
		return nil, false
	}
	g := &tree{or: or}
	for _, t := range []*tree{ta, tb} {
		if t.kids != nil && t.or == or && !t.not {
			g.kids = append(g.kids, t.kids...)
		} else {
			g.kids = append(g.kids, t)
		}
	}
	return treeCall(g), true
}

// varOf is the variable an accessor call reads.
func varOf(n ast.Node) (*varRef, bool) {
	c, ok := n.(*ast.CallNode)
	if !ok || len(c.Arguments) != 2 {
		return nil, false
	}
	if id, ok := c.Callee.(*ast.IdentifierNode); !ok || id.Value != "_var" {
		return nil, false
	}
	k, ok := c.Arguments[1].(*ast.ConstantNode)
	if !ok {
		return nil, false
	}
	ref, ok := k.Value.(*varRef)
	return ref, ok
}

// constant is the value of a literal or of a constant the rewriter made (list, regex,
// prefixes).
func constant(n ast.Node) (any, bool) {
	if k, ok := n.(*ast.ConstantNode); ok {
		return k.Value, true
	}
	return literal(n)
}

// helpers are the functions a user may call: name → arity.
var helpers = map[string]int{
	"ipmatch": 2, "has": 2, "lower": 1, "upper": 1, "hasPrefix": 2, "hasSuffix": 2,
	"len": 1, "int": 1, "now": 0, "var": 1,
}

func (r *rewriter) call(np *ast.Node, n *ast.CallNode) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		r.fail(n, "only the documented functions can be called")
		return
	}
	name := id.Value
	arity, ok := helpers[name]
	if !ok {
		r.fail(n, "unknown function %s", name)
		return
	}
	args := n.Arguments
	if len(args) != arity {
		r.fail(n, "%s takes %d argument(s), got %d", name, arity, len(args))
		return
	}
	switch name {
	case "var":
		s, ok := args[0].(*ast.StringNode)
		if !ok || s.Value == "" {
			r.fail(args[0], "var takes a variable name as a non-empty string literal")
			return
		}
		r.variable(np, s.Value, n.Location())
	case "ipmatch":
		if !r.want(&args[0], kVar, "the address of ipmatch") {
			return
		}
		if p, ok := r.prefixes(args[1]); ok {
			r.set(np, predicate("_ipmatch", args[0], p), kBool)
		}
	case "has":
		var list ast.Node
		if _, ok := args[0].(*ast.ArrayNode); ok {
			list, _ = r.list(args[0], "")
		} else if r.want(&args[0], kVar, "the list of has") {
			list = args[0]
		} else {
			return
		}
		if r.want(&args[1], kNil|kStr|kNum|kBool, "the value has looks for") {
			r.set(np, predicate("_has", list, args[1]), kBool)
		}
	case "lower", "upper":
		if r.want(&args[0], kVar, "the argument of "+name) {
			r.set(np, call("_"+name, args[0]), kVar)
		}
	case "hasPrefix", "hasSuffix":
		if r.want(&args[0], kVar, "the first argument of "+name) &&
			r.want(&args[1], kVar, "the second argument of "+name) {
			r.set(np, predicate("_"+name, args[0], args[1]), kBool)
		}
	case "len":
		if r.want(&args[0], kVar|kList, "the argument of len") {
			if _, ok := args[0].(*ast.ArrayNode); ok {
				args[0], _ = r.list(args[0], "")
			}
			r.set(np, call("_len", args[0]), kNum)
		}
	case "int":
		if r.want(&args[0], kVar|kNum, "the argument of int") {
			r.set(np, call("_int", args[0]), kNum|kNil)
		}
	case "now":
		r.set(np, call("_now"), kNum)
	}
}

// prefixes reads ipmatch's second argument, a literal address or CIDR or a list of them,
// as the array form does.
func (r *rewriter) prefixes(n ast.Node) (ast.Node, bool) {
	var entries []ast.Node
	switch t := n.(type) {
	case *ast.StringNode:
		entries = []ast.Node{t}
	case *ast.ArrayNode:
		entries = t.Nodes
	default:
		r.fail(n, "the second argument of ipmatch must be an address or CIDR literal, or a list of them")
		return nil, false
	}
	if len(entries) == 0 {
		r.fail(n, "%v", errNoIP)
		return nil, false
	}
	ps := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		s, ok := e.(*ast.StringNode)
		if !ok {
			r.fail(e, "the second argument of ipmatch must be an address or CIDR literal, or a list of them")
			return nil, false
		}
		if s.Value == "" {
			r.fail(e, "%v", errNoIP)
			return nil, false
		}
		p, err := parsePrefix(s.Value)
		if err != nil {
			r.fail(e, "%v", err)
			return nil, false
		}
		ps = append(ps, p)
	}
	return &ast.ConstantNode{Value: ps}, true
}
