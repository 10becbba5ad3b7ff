package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Only operators in case clause expressions are mutated (gremlins covers
// the rest), with gremlins's default mutators, at the operator's place.
func TestFindMutatesCaseExpressionsOnly(t *testing.T) {
	src := `package p

func f(a, b int, s string) int {
	if a == b {
		return 0
	}
	switch {
	case a < b, s != "x":
		return a + b
	case a-1 >= b && func() bool { return a == 1 }():
		return 1
	}
	return 2
}
`
	path := filepath.Join(t.TempDir(), "f.go")
	require.NoError(t, os.WriteFile(path, []byte(src), 0o600))
	ms, err := find(path)
	require.NoError(t, err)
	var got []string
	for _, m := range ms {
		got = append(got, m.Type+" "+m.From+"→"+m.To)
		assert.Equal(t, m.From, src[m.offset:m.offset+len(m.From)], "the offset is the operator's")
	}
	assert.Equal(t, []string{
		"CONDITIONALS_BOUNDARY <→<=", "CONDITIONALS_NEGATION <→>=", // a < b
		"CONDITIONALS_NEGATION !=→==",                              // s != "x"
		"ARITHMETIC_BASE -→+",                                      // a-1
		"CONDITIONALS_BOUNDARY >=→>", "CONDITIONALS_NEGATION >=→<", // >= b
	}, got, "not the if, not the case body, not the func literal")
}
