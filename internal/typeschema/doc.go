// Package typeschema describes a Go config type as the JSON schema its strict decoding
// (encoding/json with unknown fields refused) implies: the fields it accepts, their JSON
// types, embedded structs flattened. The Admin API serves these schemas where APISIX
// serves its own (plugin schemas, /apisix/admin/schema/{name}).
//
// It must not claim more than the decoder checks: a type that decodes itself
// (json.Unmarshaler) is left open ({}), and no field is marked required; what the types'
// Validate methods check stays with them.
package typeschema
