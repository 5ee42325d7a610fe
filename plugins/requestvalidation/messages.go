package requestvalidation

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var printer = message.NewPrinter(language.English)

// kindMessage words the common failures as APISIX's (lua-jsonschema) validator does and
// falls back to the library's wording for the others.
func kindMessage(ve *jsonschema.ValidationError) string {
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		return fmt.Sprintf("property %q is required", k.Missing[0])
	case *kind.Type:
		return fmt.Sprintf("wrong type: expected %s, got %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.Enum:
		return "matches none of the enum values"
	case *kind.MinLength:
		return fmt.Sprintf("string too short, expected at least %d, got %d", k.Want, k.Got)
	case *kind.MaxLength:
		return fmt.Sprintf("string too long, expected at most %d, got %d", k.Want, k.Got)
	case *kind.Pattern:
		return fmt.Sprintf("failed to match pattern %q with %q", k.Want, k.Got)
	case *kind.Minimum:
		return fmt.Sprintf("expected %s to be at least %s", rat(k.Got), rat(k.Want))
	case *kind.Maximum:
		return fmt.Sprintf("expected %s to be at most %s", rat(k.Got), rat(k.Want))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("expected %s to be greater than %s", rat(k.Got), rat(k.Want))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("expected %s to be smaller than %s", rat(k.Got), rat(k.Want))
	case *kind.MinItems:
		return fmt.Sprintf("expect array to have at least %d items", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("expect array to have at most %d items", k.Want)
	case *kind.MinProperties:
		return fmt.Sprintf("expect object to have at least %d properties", k.Want)
	case *kind.MaxProperties:
		return fmt.Sprintf("expect object to have at most %d properties", k.Want)
	case *kind.AdditionalProperties:
		return "additional properties forbidden, found " + k.Properties[0]
	}
	return ve.ErrorKind.LocalizedString(printer)
}

func rat(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	return r.FloatString(6)
}
