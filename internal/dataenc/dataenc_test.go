package dataenc

import (
	"encoding/json"
	"strings"
	"testing"
)

const pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIGz\n-----END PRIVATE KEY-----\n"

func TestRoundTrip(t *testing.T) {
	for _, key := range []string{"0123456789abcdef", "0123456789abcdef01234567", "0123456789abcdef0123456789abcdef"} {
		k, err := New([]string{key})
		if err != nil {
			t.Fatalf("New(%d-byte key): %v", len(key), err)
		}
		enc, err := k.Encrypt(pem)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(enc, Prefix) || strings.Contains(enc, "PRIVATE KEY") {
			t.Fatalf("Encrypt = %q, want %s… without the plain text", enc, Prefix)
		}
		again, _ := k.Encrypt(pem)
		if again == enc {
			t.Error("two encryptions of one value are equal; the nonce must be random")
		}
		dec, err := k.Decrypt(enc)
		if err != nil || dec != pem {
			t.Errorf("Decrypt(Encrypt(x)) = %q, %v; want x", dec, err)
		}
	}
}

func TestRotation(t *testing.T) {
	old, _ := New([]string{"old-key-16-bytes"})
	enc, _ := old.Encrypt(pem)
	rotated, err := New([]string{"new-key-16-bytes", "old-key-16-bytes"})
	if err != nil {
		t.Fatal(err)
	}
	if dec, err := rotated.Decrypt(enc); err != nil || dec != pem {
		t.Errorf("second key does not decrypt: %q, %v", dec, err)
	}
	fresh, _ := rotated.Encrypt(pem)
	if _, err := old.Decrypt(fresh); err == nil {
		t.Error("a value sealed with the new first key opened with the old keyring only")
	}
	other, _ := New([]string{"another-16-bytes"})
	if _, err := other.Decrypt(enc); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Errorf("wrong keyring: err = %v, want no key opens it", err)
	}
}

func TestLegacyPlain(t *testing.T) {
	k, _ := New([]string{"0123456789abcdef"})
	for _, kr := range []*Keyring{k, nil} {
		if got, err := kr.Decrypt(pem); err != nil || got != pem {
			t.Errorf("Decrypt(plain) = %q, %v; want it unchanged", got, err)
		}
	}
	var off *Keyring
	if got, err := off.Encrypt(pem); err != nil || got != pem {
		t.Errorf("nil Keyring Encrypt = %q, %v; want unchanged", got, err)
	}
	enc, _ := k.Encrypt(pem)
	if _, err := off.Decrypt(enc); err == nil {
		t.Error("nil Keyring decrypted an encrypted value")
	}
	if got, _ := k.Encrypt(enc); got != enc {
		t.Error("Encrypt of an encrypted value changed it")
	}
}

func TestBadInput(t *testing.T) {
	for _, keys := range [][]string{nil, {"short"}, {"0123456789abcdef", "17-bytes-long-key"}} {
		if _, err := New(keys); err == nil {
			t.Errorf("New(%q) succeeded", keys)
		}
	}
	k, _ := New([]string{"0123456789abcdef"})
	for _, s := range []string{Prefix + "not base64!", Prefix + "AAAA", Prefix} {
		if _, err := k.Decrypt(s); err == nil {
			t.Errorf("Decrypt(%q) succeeded", s)
		}
	}
	enc, _ := k.Encrypt(pem)
	b := []byte(enc)
	b[len(b)-3] ^= 1 // flip a bit of the tag
	if _, err := k.Decrypt(string(b)); err == nil {
		t.Error("a tampered value decrypted")
	}
}

func TestSSLValue(t *testing.T) {
	k, _ := New([]string{"0123456789abcdef"})
	in := json.RawMessage(`{"cert":"C","id":"1","key":` + mustJSON(pem) + `,"keys":["k1","k2"],"snis":["a.test"]}`)
	enc, err := k.EncryptSSL(in)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Cert string   `json:"cert"`
		Key  string   `json:"key"`
		Keys []string `json:"keys"`
		SNIs []string `json:"snis"`
	}
	json.Unmarshal(enc, &m)
	if !IsEncrypted(m.Key) || !IsEncrypted(m.Keys[0]) || !IsEncrypted(m.Keys[1]) || m.Cert != "C" || m.SNIs[0] != "a.test" {
		t.Fatalf("EncryptSSL = %s", enc)
	}
	dec, err := k.DecryptSSL(enc)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	json.Unmarshal(in, &a)
	json.Unmarshal(dec, &b)
	if mustJSON(a) != mustJSON(b) {
		t.Errorf("DecryptSSL(EncryptSSL(v)) = %s, want %s", dec, in)
	}
	var off *Keyring
	if out, _ := off.EncryptSSL(in); string(out) != string(in) {
		t.Errorf("nil Keyring EncryptSSL changed the value: %s", out)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
