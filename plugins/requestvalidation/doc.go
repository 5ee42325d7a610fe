// Package requestvalidation is APISIX's request-validation: it checks the request's
// headers and body against JSON Schemas before anything else reads them. Priority 2800,
// phase rewrite.
//
// Headers are validated as a JSON object of lower-cased names (plus "host") whose values
// are strings, or arrays of strings for a repeated header, as ngx.req.get_headers gives
// them. The body is read from the client (at most `max_req_body_size` bytes, default
// 64 MiB), decoded as a form when Content-Type is application/x-www-form-urlencoded and
// as JSON otherwise, validated, and put back so the upstream receives it: a JSON body is
// re-encoded from what was validated (APISIX does the same, so that the upstream cannot
// parse duplicate keys or other ambiguities differently), a form body is sent as it came.
// Content-Length is fixed to the new length.
//
// A request is refused with `rejected_code` (400) and `rejected_msg` when set, else with
// the validation error as a plain text body; an empty or over-large body, or a repeated
// Content-Type, is refused with `rejected_msg` or no body, as in APISIX.
//
// Schemas are compiled with github.com/santhosh-tekuri/jsonschema/v6 when the config is
// built: draft 7 unless the schema names its `$schema`, falling back to draft 4 for a
// schema only draft 4 accepts (boolean exclusiveMinimum/exclusiveMaximum). `$ref` may
// point inside the schema only: no file or network is ever read. `pattern` is Go RE2.
//
// This plugin decodes JSON per request and builds the maps the validator needs: that is
// its job. Nothing is compiled per request.
//
// Bad input: neither header_schema nor body_schema, a schema that is not an object or
// does not compile, rejected_code outside 200–599, rejected_msg not 1–256 characters and
// max_req_body_size < 1 are refused when written.
package requestvalidation
