package reconcile

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The planner is pure: a function from observed facts to actions, which
// neither calls a client, nor reads a clock, nor starts goroutines. That is
// what makes restart safety provable (the model, the tables, the mutation
// score all run it on plain values). The files that hold it say so in
// their first line after the package clause:
//
//	//hubmigrate:pure
//
// and TestPlannerIsPure holds every such file to it, transitively: a pure
// file may name only package-level declarations of pure files, so a helper
// that reads a clock or calls a client cannot be reached from the planner
// by moving it into another file.
const pureMarker = "//hubmigrate:pure"

// impureImports may not be imported by a pure file: clients, clocks of
// their own, I/O, concurrency and randomness.
var impureImports = []string{
	"context", "crypto/rand", "io", "math/rand", "math/rand/v2", "net", "os", "os/exec",
	"runtime", "sync", "sync/atomic", "syscall", "unsafe", "log", "k8s.io/klog/v2",
	"k8s.io/client-go", "k8s.io/utils/clock", "github.com/hubmigrate/hubmigrate/metrics",
}

// clockFuncs read the wall clock or wait on it: the planner gets its time
// from Facts.Now.
var clockFuncs = []string{"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTicker", "NewTimer"}

// pureDeps are the packages a pure file may import for their constants and
// resource names only (they hold clients too).
var pureDeps = map[string]string{"github.com/hubmigrate/hubmigrate/informers": "../informers"}

// pureCalls are the functions of an impure package a pure file may call:
// they parse bytes and touch nothing else.
var pureCalls = map[string][]string{"k8s.io/client-go/tools/clientcmd": {"Load"}}

type parsedFile struct {
	name string
	file *ast.File
	pure bool
}

func parsePackage(t *testing.T, dir string) []parsedFile {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	var out []parsedFile
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		require.NoError(t, err)
		pure := false
		for _, cg := range f.Comments {
			if cg.Pos() > f.Package && len(cg.List) > 0 && cg.List[0].Text == pureMarker {
				pure = true
				break
			}
			if cg.Pos() > f.Package {
				break
			}
		}
		out = append(out, parsedFile{name: filepath.Base(name), file: f, pure: pure})
	}
	return out
}

// topLevel are the package-level names a file declares, and the methods it
// declares on each receiver type.
func topLevel(f *ast.File) (names []string, methods map[string][]string) {
	methods = map[string][]string{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				names = append(names, d.Name.Name)
				continue
			}
			recv := d.Recv.List[0].Type
			if star, ok := recv.(*ast.StarExpr); ok {
				recv = star.X
			}
			if id, ok := recv.(*ast.Ident); ok {
				methods[id.Name] = append(methods[id.Name], d.Name.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					names = append(names, s.Name.Name)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	return names, methods
}

// constantsOf are the constants a package's files declare, and its
// variables that are resource names (schema.GroupVersionResource literals).
func constantsOf(t *testing.T, dir string) map[string]bool {
	consts := map[string]bool{}
	for _, pf := range parsePackage(t, dir) {
		for _, d := range pf.file.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || (g.Tok != token.CONST && g.Tok != token.VAR) {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if g.Tok == token.CONST || (i < len(vs.Values) && isGVRLiteral(vs.Values[i])) {
						consts[n.Name] = true
					}
				}
			}
		}
	}
	return consts
}

func isGVRLiteral(e ast.Expr) bool {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return false
	}
	sel, ok := lit.Type.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "GroupVersionResource"
}

// impurities lists what keeps the pure files of dir from being pure.
func impurities(t *testing.T, files []parsedFile) []string {
	pureNames, impureNames := map[string]string{}, map[string]string{}
	pureTypes := map[string]bool{}
	for _, pf := range files {
		names, _ := topLevel(pf.file)
		for _, n := range names {
			if pf.pure {
				pureNames[n] = pf.name
			} else {
				impureNames[n] = pf.name
			}
		}
		if pf.pure {
			for _, d := range pf.file.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
					for _, s := range g.Specs {
						pureTypes[s.(*ast.TypeSpec).Name.Name] = true
					}
				}
			}
		}
	}
	// Methods on the planner's own types that live in impure files.
	impureMethods := map[string]string{}
	for _, pf := range files {
		if pf.pure {
			continue
		}
		_, methods := topLevel(pf.file)
		for typ, ms := range methods {
			if pureTypes[typ] {
				for _, m := range ms {
					impureMethods[m] = pf.name + " (" + typ + "." + m + ")"
				}
			}
		}
	}
	depConsts := map[string]map[string]bool{}
	for path, dir := range pureDeps {
		depConsts[path] = constantsOf(t, dir)
	}

	var found []string
	for _, pf := range files {
		if !pf.pure {
			continue
		}
		at := func(n ast.Node, format string, args ...any) {
			if f := pf.name + ": " + fmt.Sprintf(format, args...); !slices.Contains(found, f) {
				found = append(found, f)
			}
		}
		imports := map[string]string{} // local name → path
		for _, imp := range pf.file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			name := filepath.Base(path)
			if imp.Name != nil {
				name = imp.Name.Name
			}
			imports[name] = path
			for _, bad := range impureImports {
				if (path == bad || strings.HasPrefix(path, bad+"/")) && pureCalls[path] == nil {
					at(imp, "imports %s", path)
				}
			}
		}
		var visit func(n ast.Node) bool
		visit = func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				if _, ok := n.Key.(*ast.Ident); ok {
					ast.Inspect(n.Value, visit) // the key names a field
					return false
				}
			case *ast.GoStmt:
				at(n, "starts a goroutine")
			case *ast.SelectStmt:
				at(n, "waits in a select")
			case *ast.SendStmt:
				at(n, "sends on a channel")
			case *ast.SelectorExpr:
				if pkg, ok := n.X.(*ast.Ident); ok && pkg.Obj == nil {
					switch path := imports[pkg.Name]; {
					case path == "time" && slices.Contains(clockFuncs, n.Sel.Name):
						at(n, "reads the clock (time.%s): use Facts.Now", n.Sel.Name)
					case depConsts[path] != nil && !depConsts[path][n.Sel.Name]:
						at(n, "uses %s.%s, which is not a constant", pkg.Name, n.Sel.Name)
					case pureCalls[path] != nil && !slices.Contains(pureCalls[path], n.Sel.Name):
						at(n, "uses %s.%s (only %v may be used)", pkg.Name, n.Sel.Name, pureCalls[path])
					}
					if imports[pkg.Name] != "" {
						return false
					}
				}
				if where, ok := impureMethods[n.Sel.Name]; ok {
					at(n, "calls %s, declared in an impure file", where)
				}
				ast.Inspect(n.X, visit) // n.Sel names a field or method
				return false
			case *ast.Ident:
				if n.Obj != nil {
					return true // declared in this file (a local or a top-level of its own)
				}
				if _, ok := pureNames[n.Name]; ok {
					return true
				}
				if where, ok := impureNames[n.Name]; ok {
					at(n, "names %s, declared in %s, which is not pure", n.Name, where)
				}
			}
			return true
		}
		ast.Inspect(pf.file, visit)
	}
	return found
}

// TestPlannerIsPure holds the files marked pure to the rule above, and the
// planner's entry point and the mutation target to being among them.
func TestPlannerIsPure(t *testing.T) {
	files := parsePackage(t, ".")
	var pure []string
	for _, pf := range files {
		if pf.pure {
			pure = append(pure, pf.name)
		}
	}
	for _, must := range []string{"plan.go", "plan_validating.go", "plan_initializing.go", "plan_deploying.go",
		"plan_registering.go", "plan_cleaning.go", "plan_rollback.go", "csr.go", "facts.go", "actions.go"} {
		assert.Contains(t, pure, must, "the planner's files are pure")
	}
	assert.Empty(t, impurities(t, files))
	t.Logf("pure files (%d): %s", len(pure), strings.Join(pure, " "))

	// The mutation target (make mutation) is the pure planner.
	makefile, err := os.ReadFile("../Makefile")
	require.NoError(t, err)
	for _, line := range strings.Split(string(makefile), "\n") {
		if rest, ok := strings.CutPrefix(line, "MUTATED := "); ok {
			for _, f := range strings.Fields(strings.TrimSuffix(rest, "\\")) {
				assert.Contains(t, pure, f, "make mutation mutates only pure files")
			}
		}
	}
}

// The rule can fail: a pure file that reads the clock, calls a client,
// starts a goroutine or reaches an impure helper is caught.
func TestPurityRuleCatchesImpureCode(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600))
	}
	write("helper.go", "package p\n\nimport \"time\"\n\nfunc wallClock() time.Time { return time.Now() }\n\nfunc (view) fetch() {}\n")
	write("types.go", "package p\n\n//hubmigrate:pure\n\ntype view struct{}\n")
	write("plan.go", `package p

//hubmigrate:pure

import (
	"context"
	"time"

	"k8s.io/client-go/kubernetes"
)

var _ kubernetes.Interface
var _ context.Context

func plan(v view, now time.Time) time.Time {
	go func() {}()
	_ = wallClock()
	v.fetch()
	return time.Now().Add(time.Since(now))
}
`)
	write("kube.go", "package p\n\n//hubmigrate:pure\n\nimport \"k8s.io/client-go/tools/clientcmd\"\n\nvar _, _ = clientcmd.Load(nil)\nvar _, _ = clientcmd.BuildConfigFromFlags(\"\", \"\")\n")
	write("ok.go", "package p\n\n//hubmigrate:pure\n\nimport \"time\"\n\nfunc fine(now time.Time, d time.Duration) time.Time { return now.Add(d) }\n")
	got := impurities(t, parsePackage(t, dir))
	want := []string{
		"plan.go: imports context",
		"plan.go: imports k8s.io/client-go/kubernetes",
		"plan.go: starts a goroutine",
		"plan.go: names wallClock, declared in helper.go, which is not pure",
		"plan.go: calls helper.go (view.fetch), declared in an impure file",
		"plan.go: reads the clock (time.Now): use Facts.Now",
		"plan.go: reads the clock (time.Since): use Facts.Now",
		"kube.go: uses clientcmd.BuildConfigFromFlags (only [Load] may be used)",
	}
	assert.ElementsMatch(t, want, got)
}
