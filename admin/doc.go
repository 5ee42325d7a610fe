// Package admin owns the REST Admin API: APISIX v3 paths and envelopes under
// /apisix/admin/, authentication (key, role, allow_admin CIDRs), validation of every
// write and the mapping of errors to statuses.
//
// It must not store anything it has not validated: a write is decoded strictly, checked
// against its kind's schema, its references, every plugin's own config check and the
// data plane's compile step (Options.Validate), all inside the store transaction that
// commits it, so two writers cannot each pass a check the other breaks. Nothing is
// answered 2xx before the store says the write is durable.
//
// # Status codes and bodies
//
// They follow APISIX (reference: apisix-behaviour.md §1): PUT 201 on create and 200 on
// replace, POST 201 with a 20-digit id, GET one {key, value, createdIndex, modifiedIndex},
// list {list, total}, DELETE {deleted: "1", key}, a missing key 404 {"message": "Key not
// found"}, every other error {"error_msg": …}. Where APISIX answers an nginx HTML page
// (a client outside allow_admin) Portico answers JSON; a body over admin.max_body gets
// APISIX's 400 "invalid request body: request size N is greater than the maximum size M
// allowed".
//
// # Keys
//
// Keys are compared in constant time. Like APISIX, the key is read from the api_key
// query argument first, then the X-API-KEY header, then the x_api_key cookie.
package admin
