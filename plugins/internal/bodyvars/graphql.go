package bodyvars

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// GraphQL is what the graphql_* variables read: the query's first operation.
type GraphQL struct {
	Name       string // graphql_name: "" for an anonymous operation
	Operation  string // graphql_operation: query, mutation or subscription
	RootFields string // graphql_root_fields: its top-level fields, a JSON array
}

// Var is graphql_<name>.
func (g *GraphQL) Var(name string) (string, bool) {
	if g == nil {
		return "", false
	}
	switch name {
	case "name":
		return g.Name, true
	case "operation":
		return g.Operation, true
	case "root_fields":
		return g.RootFields, true
	}
	return "", false
}

// MaxGraphQLBody is APISIX's default graphql.max_size.
const MaxGraphQLBody = 1 << 20

// QueryOfBody is the query a POST carries: the body itself, or its "query" member
// when the Content-Type is exactly application/json (as APISIX).
func QueryOfBody(contentType string, body []byte) (string, error) {
	if len(body) == 0 {
		return "", errors.New("failed to read graphql data, request body has zero size")
	}
	if contentType != "application/json" {
		return string(body), nil
	}
	var v struct {
		Query *string `json:"query"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("failed to read graphql data, %w", err)
	}
	if v.Query == nil {
		return "", errors.New("failed to read graphql data, json body[query] is nil")
	}
	return *v.Query, nil
}

// ParseGraphQL parses query and describes its first operation.
func ParseGraphQL(query string) (*GraphQL, error) {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return nil, fmt.Errorf("failed to parse graphql: %w", err)
	}
	if len(doc.Operations) == 0 {
		return nil, errors.New("empty graphql: " + query)
	}
	op := doc.Operations[0]
	fields := make([]string, 0, len(op.SelectionSet))
	for _, sel := range op.SelectionSet {
		switch s := sel.(type) {
		case *ast.Field:
			fields = append(fields, s.Name)
		case *ast.FragmentSpread:
			fields = append(fields, s.Name)
		}
	}
	root, _ := json.Marshal(fields)
	return &GraphQL{Name: op.Name, Operation: string(op.Operation), RootFields: string(root)}, nil
}
