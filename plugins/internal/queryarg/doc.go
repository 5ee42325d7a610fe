// Package queryarg reads and removes one argument of a raw query string without parsing
// the whole query, for the auth plugins that take a credential from the query
// (key-auth, jwt-auth) and hide it.
//
// The other arguments are left byte for byte as the client sent them. It must not import
// a plugin.
package queryarg
