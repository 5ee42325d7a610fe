package trafficsplit

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"sync/atomic"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/condition"
	"github.com/portico-gw/portico/store"
)

// Spec registers traffic-split.
var Spec = plugins.Spec{Name: "traffic-split", Priority: 966,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is traffic-split's configuration, with APISIX's field names.
type Config struct {
	Rules []Rule `json:"rules,omitempty"`
}

// Rule sends the requests its match lets through to its weighted upstreams.
type Rule struct {
	// Match passes when any of its entries passes; nil: always.
	Match []Match `json:"match,omitempty"`
	// WeightedUpstreams nil: the route's own upstream, weight 1.
	WeightedUpstreams []WeightedUpstream `json:"weighted_upstreams,omitempty"`
}

// Match is one condition, APISIX's array or a string expression.
type Match struct {
	Vars json.RawMessage `json:"vars,omitempty"`
}

// WeightedUpstream is an upstream by id, one inline, or neither (the route's own).
type WeightedUpstream struct {
	UpstreamID store.ID        `json:"upstream_id,omitempty"`
	Upstream   *store.Upstream `json:"upstream,omitempty"`
	Weight     *int            `json:"weight,omitempty"` // nil: 1
}

const maxWeighted = 20

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	for i, r := range c.Rules {
		for j, m := range r.Match {
			if _, err := condition.Compile(m.Vars); err != nil {
				return fmt.Errorf("failed to validate the 'vars' expression: rules[%d].match[%d]: %w", i, j, err)
			}
		}
		if r.WeightedUpstreams != nil && len(r.WeightedUpstreams) == 0 {
			return fmt.Errorf(`property "rules" validation failed: rules[%d]: property "weighted_upstreams" validation failed: expect array to have at least 1 items`, i)
		}
		if len(r.WeightedUpstreams) > maxWeighted {
			return fmt.Errorf(`property "rules" validation failed: rules[%d]: property "weighted_upstreams" validation failed: expect array to have at most %d items`, i, maxWeighted)
		}
		for j, wu := range r.WeightedUpstreams {
			if wu.Weight != nil && (*wu.Weight < 0 || *wu.Weight > math.MaxInt32) {
				return fmt.Errorf(`property "rules" validation failed: rules[%d].weighted_upstreams[%d]: property "weight" validation failed: %d is not within 0–%d`, i, j, *wu.Weight, math.MaxInt32)
			}
			if wu.Upstream != nil {
				if err := wu.Upstream.Validate(); err != nil {
					return fmt.Errorf(`property "rules" validation failed: rules[%d].weighted_upstreams[%d].upstream: %w`, i, j, err)
				}
			}
		}
	}
	return nil
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	rules []*rule
}

type rule struct {
	match    []*condition.Condition
	hasMatch bool // match given, possibly empty
	pick     *picker
}

// New compiles the rules and their round-robin schedules.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{}
	for i, r := range c.Rules {
		cr := &rule{hasMatch: r.Match != nil}
		for j, m := range r.Match {
			cond, err := condition.Compile(m.Vars)
			if err != nil {
				return nil, fmt.Errorf("rules[%d].match[%d]: %w", i, j, err)
			}
			cr.match = append(cr.match, cond)
		}
		wus := r.WeightedUpstreams
		if wus == nil {
			wus = []WeightedUpstream{{}} // APISIX's schema default: the route's upstream
		}
		var (
			choices []*plugins.UpstreamChoice
			weights []int
		)
		for _, wu := range wus {
			w := 1
			if wu.Weight != nil {
				w = *wu.Weight
			}
			var ch *plugins.UpstreamChoice
			switch {
			case wu.UpstreamID != "":
				ch = &plugins.UpstreamChoice{ID: string(wu.UpstreamID)}
			case wu.Upstream != nil:
				ch = &plugins.UpstreamChoice{Key: store.UpstreamKey(wu.Upstream)}
			}
			choices = append(choices, ch)
			weights = append(weights, w)
		}
		cr.pick = newPicker(choices, weights)
		p.rules = append(p.rules, cr)
	}
	return p, nil
}

// Access picks the upstream of the first rule that passes.
func (p *Plugin) Access(c *plugins.Ctx) plugins.Result {
	passed := true // carried from rule to rule, as the Lua's match_passed
	for _, r := range p.rules {
		if !r.hasMatch {
			return p.use(c, r)
		}
		for _, m := range r.match {
			if passed = m.Eval(c); passed {
				break
			}
		}
		if passed {
			return p.use(c, r)
		}
	}
	return plugins.Continue
}

func (p *Plugin) use(c *plugins.Ctx, r *rule) plugins.Result {
	if ch, ok := r.pick.next(); ok {
		c.Upstream = ch // nil: the route's own upstream
	}
	return plugins.Continue
}

var _ plugins.AccessPhase = (*Plugin)(nil)

// maxSchedule bounds a precomputed round-robin cycle.
const maxSchedule = 4096

// picker is one rule's weighted round robin over its choices (nil: the route's upstream).
type picker struct {
	choices []*plugins.UpstreamChoice
	n       atomic.Uint64
	// schedule is one cycle of smooth weighted round robin, as indexes into choices.
	schedule []uint8
	// otherwise: cum holds the cumulative weights, stride walks 0…total-1 in an order
	// coprime with total.
	cum           []int
	total, stride uint64
}

func newPicker(choices []*plugins.UpstreamChoice, weights []int) *picker {
	pk := &picker{}
	g := 0
	var live []int
	for i, w := range weights {
		if w > 0 {
			live = append(live, i)
			g = gcd(g, w)
		}
	}
	if len(live) == 0 {
		return pk // every weight 0: nothing to pick, the route's upstream serves
	}
	total := 0
	for _, i := range live {
		pk.choices = append(pk.choices, choices[i])
		total += weights[i] / g
	}
	if total <= maxSchedule {
		// nginx's smooth weighted round robin: add each weight to its current value,
		// pick the largest, take the total from it
		cur := make([]int, len(live))
		for range total {
			best := 0
			for k, i := range live {
				cur[k] += weights[i] / g
				if cur[k] > cur[best] {
					best = k
				}
			}
			cur[best] -= total
			pk.schedule = append(pk.schedule, uint8(best))
		}
		return pk
	}
	sum := 0
	for _, i := range live {
		sum += weights[i] / g
		pk.cum = append(pk.cum, sum)
	}
	pk.total = uint64(sum)
	pk.stride = coprimeNear(pk.total)
	return pk
}

// next returns the next choice; ok is false when the rule has none with a weight.
func (pk *picker) next() (*plugins.UpstreamChoice, bool) {
	if len(pk.choices) == 0 {
		return nil, false
	}
	n := pk.n.Add(1) - 1
	if pk.schedule != nil {
		return pk.choices[pk.schedule[n%uint64(len(pk.schedule))]], true
	}
	hi, lo := bits.Mul64(n%pk.total, pk.stride)
	pos := int(bits.Rem64(hi, lo, pk.total))
	return pk.choices[sort.SearchInts(pk.cum, pos+1)], true
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// coprimeNear returns a stride coprime with total near total×0.618, so consecutive
// picks land far apart in the cumulative weights.
func coprimeNear(total uint64) uint64 {
	s := total*618/1000 | 1
	for g := gcdU(s, total); g != 1; g = gcdU(s, total) {
		s++
	}
	return s
}

func gcdU(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
