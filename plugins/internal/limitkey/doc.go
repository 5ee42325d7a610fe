// Package limitkey resolves the counter key of the limit-* plugins from their key and
// key_type fields (var, var_combination, constant), as APISIX does.
//
// It only reads request variables; the plugins validate key_type themselves (limit-conn
// and limit-req refuse constant), so a key_type that reaches Compile is known.
package limitkey
