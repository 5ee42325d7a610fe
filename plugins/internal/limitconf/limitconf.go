package limitconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/portico-gw/portico/plugins"
)

// IntOrString is a JSON integer, or a string (APISIX 3.16's `$var` expression form,
// refused by Validate for now).
type IntOrString struct {
	Int int64
	Str *string
	Set bool
}

// UnmarshalJSON accepts an integer or a string.
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	*v = IntOrString{Set: true}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v.Str = &s
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		*v = IntOrString{}
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("wrong type: expected integer or string, got %s", b)
	}
	v.Int = n
	return nil
}

// MarshalJSON writes the value back as it came.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	switch {
	case v.Str != nil:
		return json.Marshal(*v.Str)
	case v.Set:
		return strconv.AppendInt(nil, v.Int, 10), nil
	}
	return []byte("null"), nil
}

// CheckKeyType refuses a key_type other than var and var_combination, and constant
// when constant is false.
func CheckKeyType(keyType string, constant bool) error {
	switch keyType {
	case "", "var", "var_combination":
		return nil
	case "constant":
		if constant {
			return nil
		}
	}
	return errors.New(`property "key_type" validation failed: matches none of the enum values`)
}

// CheckRejected checks rejected_code (200 to 599) and rejected_msg (not empty).
func CheckRejected(code *int, msg *string) error {
	if code != nil && (*code < 200 || *code > 599) {
		return fmt.Errorf(`property "rejected_code" validation failed: expected %d to be between 200 and 599`, *code)
	}
	if msg != nil && *msg == "" {
		return errors.New(`property "rejected_msg" validation failed: string too short, expected at least 1, got 0`)
	}
	return nil
}

// CheckPolicy admits "local" (or none) and the policies in supported; the ones in
// later are known but not supported yet.
func CheckPolicy(policy string, supported []string, later ...string) error {
	switch {
	case policy == "" || policy == "local" || slices.Contains(supported, policy):
		return nil
	case slices.Contains(later, policy):
		return fmt.Errorf(`property "policy": %q is not supported yet`, policy)
	}
	return errors.New(`property "policy" validation failed: matches none of the enum values`)
}

// ErrorBody encodes {"error_msg": msg} as APISIX does (JSON and a newline).
func ErrorBody(msg string) []byte {
	return plugins.JSONBody("error_msg", msg)
}

// Sleep waits d or until the client goes away (the upstream call then fails on the
// cancelled context, and nothing more is spent on the request).
func Sleep(c *plugins.Ctx, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.R.Context().Done():
	}
}
