package proxy

import (
	"slices"
	"strings"

	"github.com/portico-gw/portico/store"
)

// sortItems puts items in key order, the order the store lists them in.
func sortItems(l []store.Item) {
	slices.SortFunc(l, func(a, b store.Item) int { return strings.Compare(a.ID, b.ID) })
}
