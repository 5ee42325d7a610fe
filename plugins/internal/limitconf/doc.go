// Package limitconf holds the configuration pieces the limit-* plugins share: the
// integer-or-`$var` field type, the checks of key_type, rejected_code, rejected_msg and
// policy (local, or the redis policies plugins/internal/redislimit serves) with APISIX's
// messages, the pre-encoded rejection body, and the delay that ends
// when the client goes away.
//
// Each plugin keeps its own Config and Validate, and calls these in its field order, so
// the first error named is the one APISIX names. It must not import plugins other than
// the contract.
package limitconf
