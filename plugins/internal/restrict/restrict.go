package restrict

import (
	"errors"
	"fmt"

	"github.com/portico-gw/portico/plugins"
)

// CheckList refuses a list that is present but empty; an absent (nil) list passes.
func CheckList(field string, list []string) error {
	if list != nil && len(list) == 0 {
		return fmt.Errorf(`property %q validation failed: expect array to have at least 1 items`, field)
	}
	return nil
}

// CheckMessage refuses a message shorter than 1 or longer than 1024 bytes; nil passes.
func CheckMessage(msg *string) error {
	if msg == nil {
		return nil
	}
	if n := len(*msg); n < 1 {
		return fmt.Errorf(`property "message" validation failed: string too short, expected at least 1, got %d`, n)
	} else if n > 1024 {
		return fmt.Errorf(`property "message" validation failed: string too long, expected at most 1024, got %d`, n)
	}
	return nil
}

// CheckOne refuses both lists, or neither (APISIX's oneOf of two schemas).
func CheckOne(allow, deny []string) error {
	switch {
	case allow == nil && deny == nil:
		return errors.New("value should match only one schema, but matches none")
	case allow != nil && deny != nil:
		return errors.New("value should match only one schema, but matches both schemas 1 and 2")
	}
	return nil
}

// Body encodes {"message": msg}, msg if not nil, else def.
func Body(msg *string, def string) []byte {
	if msg != nil {
		def = *msg
	}
	return plugins.JSONBody("message", def)
}
