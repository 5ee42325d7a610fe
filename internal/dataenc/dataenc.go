package dataenc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Prefix starts every value Encrypt returns.
const Prefix = "$portico-enc$v1$"

// Keyring holds the AES-GCM ciphers, the encrypting one first. A nil *Keyring means
// encryption is off: Encrypt returns its input, Decrypt passes plain values through and
// refuses encrypted ones.
type Keyring struct {
	aeads []cipher.AEAD
}

// New builds a keyring from keys, each 16, 24 or 32 bytes (AES-128, -192, -256). The
// first key encrypts; all of them decrypt.
func New(keys []string) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyring is empty")
	}
	k := &Keyring{}
	for i, key := range keys {
		switch len(key) {
		case 16, 24, 32:
		default:
			return nil, fmt.Errorf("keyring[%d]: a key must be 16, 24 or 32 bytes, not %d", i, len(key))
		}
		block, err := aes.NewCipher([]byte(key))
		if err != nil {
			return nil, fmt.Errorf("keyring[%d]: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("keyring[%d]: %w", i, err)
		}
		k.aeads = append(k.aeads, aead)
	}
	return k, nil
}

// IsEncrypted reports whether s is a value Encrypt made.
func IsEncrypted(s string) bool { return strings.HasPrefix(s, Prefix) }

// Encrypt seals plain with the first key. An empty or already encrypted value is
// returned unchanged, so encrypting twice is harmless; so is everything on a nil Keyring.
func (k *Keyring) Encrypt(plain string) (string, error) {
	if k == nil || plain == "" || IsEncrypted(plain) {
		return plain, nil
	}
	aead := k.aeads[0]
	buf := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("encrypt: %w", err)
	}
	sealed := aead.Seal(buf, buf, []byte(plain), nil)
	return Prefix + base64.StdEncoding.EncodeToString(sealed), nil
}

// Decrypt opens s with whichever key sealed it. A value without Prefix is returned as it
// is (stored before encryption was on).
func (k *Keyring) Decrypt(s string) (string, error) {
	if !IsEncrypted(s) {
		return s, nil
	}
	if k == nil {
		return "", errors.New("decrypt: the value is encrypted but no data_encryption keyring is configured")
	}
	raw, err := base64.StdEncoding.DecodeString(s[len(Prefix):])
	if err != nil {
		return "", fmt.Errorf("decrypt: %w", err)
	}
	for _, aead := range k.aeads {
		n := aead.NonceSize()
		if len(raw) < n+aead.Overhead() {
			return "", errors.New("decrypt: value too short")
		}
		if plain, err := aead.Open(nil, raw[:n], raw[n:], nil); err == nil {
			return string(plain), nil
		}
	}
	return "", errors.New("decrypt: no key in the data_encryption keyring opens the value")
}

// EncryptSSL encrypts the private keys ("key" and every "keys" item) of an ssls value,
// leaving its other fields as they are: what the Admin API stores.
func (k *Keyring) EncryptSSL(value json.RawMessage) (json.RawMessage, error) {
	return k.sslKeys(value, k.Encrypt)
}

// DecryptSSL decrypts the private keys of a stored ssls value: what a PATCH merges into.
func (k *Keyring) DecryptSSL(value json.RawMessage) (json.RawMessage, error) {
	return k.sslKeys(value, k.Decrypt)
}

func (k *Keyring) sslKeys(value json.RawMessage, f func(string) (string, error)) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(value, &m); err != nil {
		return nil, fmt.Errorf("ssl value: %w", err)
	}
	changed := false
	if raw, ok := m["key"]; ok {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("ssl value: key: %w", err)
		}
		out, err := f(s)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		if out != s {
			m["key"], _ = json.Marshal(out)
			changed = true
		}
	}
	if raw, ok := m["keys"]; ok {
		var l []string
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, fmt.Errorf("ssl value: keys: %w", err)
		}
		keysChanged := false
		for i, s := range l {
			out, err := f(s)
			if err != nil {
				return nil, fmt.Errorf("keys[%d]: %w", i, err)
			}
			if out != s {
				l[i], keysChanged = out, true
			}
		}
		if keysChanged {
			m["keys"], _ = json.Marshal(l)
			changed = true
		}
	}
	if !changed {
		return value, nil
	}
	return json.Marshal(m)
}
