package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Names Prepare exports; a module's own export names may not start with
// ReservedPrefix.
const (
	ReservedPrefix = "__portico_"
	// InterruptExport names the interrupt global.
	InterruptExport = ReservedPrefix + "interrupt"
	// StartExport names the module's start function, which Prepare turns into an
	// export (the start section is removed): wazero would run it inside
	// instantiation, before the host holds the interrupt global.
	StartExport = ReservedPrefix + "start"
)

// MaxTableEntries bounds a table's size, initial and grown (8 bytes an entry).
const MaxTableEntries = 1_000_000

// The WebAssembly JS API's implementation limits (webassembly.github.io/spec/js-api,
// "Limits"), which every browser enforces.
const (
	maxTypes     = 1_000_000
	maxFunctions = 1_000_000
	maxImports   = 100_000
	maxExports   = 100_000
	maxGlobals   = 1_000_000
	maxTags      = 1_000_000
	maxDataSegs  = 100_000
	maxElemSegs  = 10_000_000
	maxTables    = 100_000
	maxMemories  = 100 // wazero refuses more than one; this only bounds the count
	maxParams    = 1_000
	maxResults   = 1_000
	maxLocals    = 50_000
	maxBodySize  = 7_654_321
	maxElems     = 10_000_000
)

const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13

	externGlobal = 3
)

// order is each known section's place in the binary format (the tag section sits
// between memory and global).
var order = [14]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secTag: 6,
	secGlobal: 7, secExport: 8, secStart: 9, secElement: 10, secDataCount: 11,
	secCode: 12, secData: 13,
}

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

type section struct {
	id      byte
	payload []byte
}

// Prepare returns a copy of wasm with its sizes checked, its tables bounded, the
// interrupt global added and custom sections dropped. The error names the section and
// what in it is out of bounds or unreadable.
func Prepare(wasm []byte) ([]byte, error) {
	if !bytes.HasPrefix(wasm, header) {
		return nil, errors.New("not a WebAssembly 1 binary (bad magic or version)")
	}
	var sections []section
	r := reader{b: wasm, off: len(header)}
	for !r.done() {
		id := r.byte()
		payload := r.bytes(r.u32())
		if r.err != nil {
			return nil, fmt.Errorf("section at offset %d: %w", r.off, r.err)
		}
		if int(id) >= len(order) || id != secCustom && order[id] == 0 {
			return nil, fmt.Errorf("unknown section id %d", id)
		}
		if id != secCustom {
			sections = append(sections, section{id, payload})
		}
	}

	var imported imports
	var definedGlobals, definedMemories uint32
	for _, s := range sections {
		var err error
		switch s.id {
		case secImport:
			imported, err = checkImports(s.payload)
		case secGlobal:
			definedGlobals, err = checkGlobals(s.payload)
		case secMemory:
			definedMemories, err = check(s)
		default:
			_, err = check(s)
		}
		if err != nil {
			return nil, fmt.Errorf("%s section: %w", sectionName(s.id), err)
		}
	}
	interrupt := uint64(imported.globals) + uint64(definedGlobals)
	// What Prepare appends to a section's vector, creating the section if absent:
	// the interrupt global, the tick global (mutable i32s: i32.const N; end), the
	// interrupt's export, and a memory of no pages for the yield's memory.grow when
	// the module has none.
	add := map[byte][][]byte{
		secGlobal: {
			{0x7F, 0x01, 0x41, 0x00, 0x0B},
			append(append([]byte{0x7F, 0x01, 0x41}, sleb(yieldEvery)...), 0x0B),
		},
		secExport: {append(append(append(uleb(uint64(len(InterruptExport))), InterruptExport...), externGlobal), uleb(interrupt)...)},
	}
	for _, s := range sections {
		if s.id == secStart {
			r := reader{b: s.payload}
			fn := r.u32()
			add[secExport] = append(add[secExport], append(append(append(uleb(uint64(len(StartExport))), StartExport...), 0x00), uleb(uint64(fn))...))
		}
	}
	if imported.memories+definedMemories == 0 {
		add[secMemory] = [][]byte{{0x01, 0x00, 0x00}}
	}
	guard := checkCode(uleb(interrupt), uleb(interrupt+1))

	var out bytes.Buffer
	out.Grow(len(wasm) + len(wasm)/4 + 128)
	out.Write(header)
	write := func(id byte, payload []byte) {
		out.WriteByte(id)
		out.Write(uleb(uint64(len(payload))))
		out.Write(payload)
	}
	// sections are in order (wazero refuses them otherwise): a missing one goes before
	// the first that follows it
	addMissing := func(before int) {
		for _, id := range []byte{secMemory, secGlobal, secExport} {
			if entries, ok := add[id]; ok && order[id] < before {
				write(id, appendToVector(nil, entries...))
				delete(add, id)
			}
		}
	}
	for _, s := range sections {
		addMissing(order[s.id])
		payload := s.payload
		switch s.id {
		case secMemory, secGlobal, secExport:
			payload = appendToVector(payload, add[s.id]...)
			delete(add, s.id)
		case secStart:
			continue // exported as StartExport
		case secTable:
			payload = boundTables(payload)
		case secCode:
			var err error
			if payload, err = instrumentCode(payload, guard); err != nil {
				return nil, fmt.Errorf("code section: %w", err)
			}
		}
		write(s.id, payload)
	}
	addMissing(len(order))
	return out.Bytes(), nil
}

// yieldEvery is how many function entries and loop iterations pass between two
// yields: the guest's memory.grow(0) runs Go code (wazero's), where the Go scheduler
// can preempt a goroutine it cannot preempt in compiled wasm, so that the timer that
// sets the interrupt runs even when every P is busy in a guest loop. A yield costs
// about as much as 20-50 iterations of a tight loop.
const yieldEvery = 8192

// checkCode is the check at every function entry and loop head, with $i and $t the
// indices of the interrupt and tick globals:
//
//	global.get $i  if  unreachable  end                   ;; interrupted: trap
//	global.get $t  i32.const 1  i32.sub  global.set $t
//	global.get $t  i32.eqz
//	if  i32.const 0  memory.grow 0  drop                  ;; yield
//	    i32.const yieldEvery  global.set $t  end
//
// It opens and closes its own blocks, so no branch depth around it changes, and
// leaves the operand stack as it found it, so a loop's parameters pass through.
func checkCode(interrupt, tick []byte) []byte {
	var b []byte
	b = append(append(append(b, 0x23), interrupt...), 0x04, 0x40, 0x00, 0x0B)
	b = append(append(append(b, 0x23), tick...), 0x41, 0x01, 0x6B)
	b = append(append(append(b, 0x24), tick...), 0x23)
	b = append(append(b, tick...), 0x45, 0x04, 0x40, 0x41, 0x00, 0x40, 0x00, 0x1A, 0x41)
	b = append(append(b, sleb(yieldEvery)...), 0x24)
	return append(append(b, tick...), 0x0B)
}

func sectionName(id byte) string {
	names := [...]string{"custom", "type", "import", "function", "table", "memory", "global", "export", "start", "element", "code", "data", "data count", "tag"}
	return names[id]
}

// appendToVector adds entries to the (checked) vector in payload; a nil payload is
// an empty vector.
func appendToVector(payload []byte, entries ...[]byte) []byte {
	r := reader{b: payload}
	n := uint64(0)
	if payload != nil {
		n = uint64(r.u32())
	}
	b := uleb(n + uint64(len(entries)))
	b = append(b, payload[r.off:]...)
	for _, e := range entries {
		b = append(b, e...)
	}
	return b
}

// check reads a section other than import and global, bounding its sizes. For the
// memory section it returns the number of memories.
func check(s section) (memories uint32, err error) {
	r := reader{b: s.payload}
	switch s.id {
	case secType:
		for n := r.count(maxTypes, "types"); n > 0 && r.err == nil; n-- {
			if form := r.byte(); form != 0x60 && r.err == nil {
				return 0, fmt.Errorf("type form 0x%02x at offset %d, want 0x60", form, r.off-1)
			}
			r.bytes(r.count(maxParams, "params"))
			r.bytes(r.count(maxResults, "results"))
		}
	case secFunction:
		for n := r.count(maxFunctions, "functions"); n > 0 && r.err == nil; n-- {
			r.u32()
		}
	case secTable:
		for n := r.count(maxTables, "tables"); n > 0 && r.err == nil; n-- {
			r.byte() // reftype
			if _, _, err := readTableLimits(&r); err != nil {
				return 0, err
			}
		}
	case secMemory:
		memories = r.count(maxMemories, "memories")
		for n := memories; n > 0 && r.err == nil; n-- {
			flags := r.byte()
			if flags > 1 && r.err == nil {
				return 0, fmt.Errorf("memory limits flags 0x%02x (shared or 64-bit memory)", flags)
			}
			r.u32() // min
			if flags == 1 {
				r.u32() // max
			}
		}
	case secTag:
		for n := r.count(maxTags, "tags"); n > 0 && r.err == nil; n-- {
			r.byte()
			r.u32()
		}
	case secExport:
		for n := r.count(maxExports, "exports"); n > 0 && r.err == nil; n-- {
			if name := r.name(); strings.HasPrefix(name, ReservedPrefix) {
				return 0, fmt.Errorf("exports %q: names starting with %s are the host's", name, ReservedPrefix)
			}
			r.byte()
			r.u32()
		}
	case secStart:
		r.u32()
	case secElement:
		for n := r.count(maxElemSegs, "element segments"); n > 0 && r.err == nil; n-- {
			checkElement(&r)
		}
	case secDataCount:
		if n := r.u32(); n > maxDataSegs {
			return 0, fmt.Errorf("%w: %d data segments declared, at most %d allowed", errBounds, n, maxDataSegs)
		}
	case secCode:
		return 0, nil // read while instrumented
	case secData:
		for n := r.count(maxDataSegs, "data segments"); n > 0 && r.err == nil; n-- {
			switch flags := r.u32(); flags {
			case 0:
				constExpr(&r)
			case 1:
			case 2:
				r.u32()
				constExpr(&r)
			default:
				if r.err == nil {
					return 0, fmt.Errorf("data segment flags %d", flags)
				}
			}
			r.bytes(r.u32())
		}
	}
	return memories, endOf(&r)
}

// endOf reports r's error, or bytes left over after the last entry.
func endOf(r *reader) error {
	if r.err == nil && r.left() > 0 {
		return fmt.Errorf("%d bytes after the last entry", r.left())
	}
	return r.err
}

// imports counts the imported globals and memories.
type imports struct{ globals, memories uint32 }

func checkImports(payload []byte) (imported imports, err error) {
	r := reader{b: payload}
	for n := r.count(maxImports, "imports"); n > 0 && r.err == nil; n-- {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // func: type index
			r.u32()
		case 0x01: // table: reftype, limits
			r.byte()
			if _, _, err := readTableLimits(&r); err != nil {
				return imports{}, err
			}
		case 0x02: // memory: limits
			imported.memories++
			flags := r.byte()
			r.u32() // min
			if flags&1 != 0 {
				r.u32() // max
			}
		case externGlobal: // valtype, mutability
			r.byte()
			r.byte()
			imported.globals++
		case 0x04: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			if r.err == nil {
				return imports{}, fmt.Errorf("import kind 0x%02x at offset %d", kind, r.off-1)
			}
		}
	}
	return imported, endOf(&r)
}

func checkGlobals(payload []byte) (uint32, error) {
	r := reader{b: payload}
	n := r.count(maxGlobals, "globals")
	for i := n; i > 0 && r.err == nil; i-- {
		r.byte() // valtype
		r.byte() // mutability
		constExpr(&r)
	}
	return n, endOf(&r)
}

// checkElement reads one element segment (its eight encodings).
func checkElement(r *reader) {
	flags := r.u32()
	if flags > 7 {
		r.fail(fmt.Errorf("element segment flags %d", flags))
		return
	}
	if flags&1 == 0 { // active
		if flags&2 != 0 {
			r.u32() // table index
		}
		constExpr(r)
	}
	if flags&3 != 0 { // elemkind or reftype, except the short active forms 0 and 4
		r.byte()
	}
	n := r.count(maxElems, "elements")
	for ; n > 0 && r.err == nil; n-- {
		if flags&4 == 0 {
			r.u32() // function index
		} else {
			constExpr(r)
		}
	}
}

// constExpr reads instructions up to their end.
func constExpr(r *reader) {
	for r.err == nil {
		op := r.byte()
		if op == 0x0B {
			return
		}
		if err := skipImmediates(r, op); err != nil {
			r.fail(fmt.Errorf("constant expression: instruction 0x%02x: %w", op, err))
		}
	}
}

// readTableLimits reads a table's limits, which must stay within MaxTableEntries.
func readTableLimits(r *reader) (min uint32, max uint32, err error) {
	flags := r.byte()
	if flags > 1 && r.err == nil {
		return 0, 0, fmt.Errorf("table limits flags 0x%02x", flags)
	}
	min, max = r.u32(), MaxTableEntries
	if flags == 1 {
		max = r.u32()
	}
	if min > MaxTableEntries && r.err == nil {
		return 0, 0, fmt.Errorf("%w: a table of %d entries, at most %d allowed", errBounds, min, MaxTableEntries)
	}
	return min, max, r.err
}

// boundTables rewrites the (checked) table section so that no table may grow past
// MaxTableEntries.
func boundTables(payload []byte) []byte {
	r := reader{b: payload}
	n := r.u32()
	out := uleb(uint64(n))
	for ; n > 0; n-- {
		reftype := r.byte()
		min, max, _ := readTableLimits(&r)
		out = append(out, reftype, 0x01)
		out = append(out, uleb(uint64(min))...)
		out = append(out, uleb(uint64(min32(max, MaxTableEntries)))...)
	}
	return out
}

func min32(a, b uint32) uint32 {
	if a < b {
		return a
	}
	return b
}

// instrumentCode checks every function body of a code section and adds check
// at the head of each of its loops. Sizes are checked for all bodies before any
// instruction is read, so a size out of bounds is the error reported whatever else is
// wrong.
func instrumentCode(payload, check []byte) ([]byte, error) {
	r := reader{b: payload}
	n := r.count(maxFunctions, "functions")
	bodies := make([][]byte, 0, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := r.u32()
		if size > maxBodySize && r.err == nil {
			return nil, fmt.Errorf("function %d: %w: a body of %d bytes, at most %d allowed", i, errBounds, size, maxBodySize)
		}
		body := r.bytes(size)
		if r.err == nil {
			r.err = checkLocals(&reader{b: body})
		}
		if r.err != nil {
			return nil, fmt.Errorf("function %d: %w", i, r.err)
		}
		bodies = append(bodies, body)
	}
	if err := endOf(&r); err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(payload)+len(payload)/8+16)
	out = append(out, uleb(uint64(n))...)
	for i, body := range bodies {
		nb, err := instrumentBody(body, check)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = append(out, uleb(uint64(len(nb)))...)
		out = append(out, nb...)
	}
	return out, nil
}

// checkLocals reads a body's local declarations: at most maxLocals in all.
func checkLocals(r *reader) error {
	var locals uint64
	for n := r.count(maxLocals, "local declarations"); n > 0 && r.err == nil; n-- {
		locals += uint64(r.u32())
		r.byte() // valtype
	}
	if locals > maxLocals && r.err == nil {
		return fmt.Errorf("%w: %d locals, at most %d allowed", errBounds, locals, maxLocals)
	}
	return r.err
}

// instrumentBody copies one (checked) body, adding check after the block type of
// every loop. The check opens and closes its own block before the loop's first
// instruction, so no branch depth in the body changes, and it leaves the operand
// stack as it found it, so a loop's parameters pass through.
func instrumentBody(body, check []byte) ([]byte, error) {
	r := reader{b: body}
	_ = checkLocals(&r)
	out := make([]byte, 0, len(body)+2*len(check))
	out = append(append(out, body[:r.off]...), check...) // the function's entry
	copied := r.off
	for !r.done() {
		at := r.off
		op := r.byte()
		if err := skipImmediates(&r, op); err != nil {
			return nil, fmt.Errorf("instruction 0x%02x at body offset %d: %w", op, at, err)
		}
		if r.err != nil {
			return nil, fmt.Errorf("instruction 0x%02x at body offset %d: %w", op, at, r.err)
		}
		if op == 0x03 { // loop
			out = append(out, body[copied:r.off]...)
			out = append(out, check...)
			copied = r.off
		}
	}
	return append(out, body[copied:]...), nil
}

// skipImmediates reads the immediates of the instruction op.
func skipImmediates(r *reader, op byte) error {
	switch {
	case op <= 0x01, op == 0x05, op == 0x0B, op == 0x0F, op == 0x1A, op == 0x1B,
		op >= 0x45 && op <= 0xC4, op == 0xD1:
		// none
	case op >= 0x02 && op <= 0x04: // block, loop, if: block type (s33)
		r.sleb()
	case op == 0x0C, op == 0x0D, op == 0x10, // br, br_if, call
		op >= 0x20 && op <= 0x26, // local.*, global.*, table.get/set
		op == 0xD2:               // ref.func
		r.u32()
	case op == 0x0E: // br_table
		for n := r.count(1<<32-1, "br_table labels"); n > 0 && r.err == nil; n-- {
			r.u32()
		}
		r.u32()
	case op == 0x11: // call_indirect: type, table
		r.u32()
		r.u32()
	case op == 0x1C: // select t*
		r.bytes(r.count(1<<32-1, "select types"))
	case op >= 0x28 && op <= 0x3E: // loads and stores: memarg
		r.u32()
		r.u32()
	case op == 0x3F, op == 0x40: // memory.size, memory.grow: memory index
		r.u32()
	case op == 0x41, op == 0x42: // i32.const, i64.const
		r.sleb()
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op == 0xD0: // ref.null: reftype
		r.byte()
	case op == 0xFC:
		return skipFC(r)
	case op == 0xFD:
		return skipSIMD(r)
	default:
		return errUnsupported
	}
	return nil
}

func skipFC(r *reader) error {
	switch sub := r.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 9, sub == 11, sub == 13, sub >= 15 && sub <= 17:
		// data.drop, memory.fill, elem.drop, table.grow/size/fill: one index
		r.u32()
	case sub == 8, sub == 10, sub == 12, sub == 14:
		// memory.init, memory.copy, table.init, table.copy: two indices
		r.u32()
		r.u32()
	default:
		return errUnsupported
	}
	return nil
}

func skipSIMD(r *reader) error {
	switch sub := r.u32(); {
	case sub <= 11, sub == 92, sub == 93: // loads and stores: memarg
		r.u32()
		r.u32()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane: lane index
		r.byte()
	case sub >= 84 && sub <= 91: // load/store lane: memarg, lane index
		r.u32()
		r.u32()
		r.byte()
	case sub <= 255:
		// the rest of SIMD takes no immediate
	default:
		return errUnsupported
	}
	return nil
}
