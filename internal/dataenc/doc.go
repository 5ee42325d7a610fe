// Package dataenc is APISIX's data_encryption for Portico: a keyring from the node config
// that encrypts secrets (SSL private keys) before they are stored and decrypts them when
// a snapshot is built.
//
// It must not import other Portico packages, log, or keep a key anywhere but the Keyring.
//
// # Format
//
// An encrypted value is Prefix followed by the standard base64 of a 12-byte random nonce
// and the AES-GCM ciphertext with its tag. The first key of the keyring encrypts; every
// key is tried to decrypt, so a new key can be put first while values written with the
// old one still open. A value without Prefix was stored before encryption was turned on
// (or by a node without a keyring) and is returned as it is.
//
// # Why not APISIX's format
//
// APISIX encrypts with AES-128-CBC and a fixed IV (the key's own bytes), and tells an
// encrypted value from a plain one only by trying to decrypt it. GCM with a random nonce
// does not repeat ciphertexts and detects a wrong key; the prefix makes plain legacy values
// unambiguous. A value APISIX encrypted must be written again in plain text.
package dataenc
