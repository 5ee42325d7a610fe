// Package bodyvars computes the variables APISIX takes from a request's body:
// post_arg_<name> (a urlencoded form field), post_arg.<path> (a field of a JSON,
// urlencoded or multipart body, by dotted path or JSONPath) and graphql_<name> (the
// first operation of a GraphQL query: name, operation, root_fields).
//
// It owns parsing and lookup, and the compiled JSONPaths (cached by text, as APISIX's
// lua-jsonpath caches them). It must not read the request: plugins.Ctx reads the body
// once, puts it back for the upstream and hands the bytes here.
//
// A value that is not a string is rendered as Lua's tostring would (numbers %.14g,
// true/false); an object or array (a JSONPath's results, graphql_root_fields) is its
// JSON text, which the condition operators (`has`) decode as an array. JSON null is
// absent.
package bodyvars
