// Package authindex holds what the auth plugins (key-auth, basic-auth, jwt-auth) share:
// the per-snapshot index from a credential (a key, a username) to its consumer with
// APISIX's duplicate message, the realm and anonymous_consumer checks, and the lookup
// of the anonymous consumer.
//
// An index is built once per snapshot by the plugin's Spec.Index and only read per
// request. The package must not import a plugin; what a credential is and how it is
// verified stays in the plugin.
package authindex
