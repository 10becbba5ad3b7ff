// Command casemut mutates what gremlins cannot see: the conditions of switch
// case clauses. gremlins (make mutation) tests a mutant only where the
// coverage profile shows a covered block, and Go's coverage has no block
// for a case clause's expressions — the body after the colon is the block —
// so every mutant in `case a == b:` is reported NOT COVERED and left out of
// the score, although the planner decides most things in such clauses.
//
// casemut applies gremlins's default mutators (CONDITIONALS_BOUNDARY,
// CONDITIONALS_NEGATION, ARITHMETIC_BASE) to the comparison and arithmetic
// operators inside case clause expressions of the given files, one at a
// time, through `go test -overlay` (the tree is never written), and reports
// each as KILLED (a test failed), LIVED (every test passed) or NOT VIABLE
// (it does not compile). It exits 1 when the efficacy, killed ÷ (killed +
// lived), is below -threshold.
//
// It is a test tool: never part of the product.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// mutators are gremlins's defaults for the operators they apply to.
var mutators = map[token.Token][]mutation{
	token.LSS: {{"CONDITIONALS_BOUNDARY", "<="}, {"CONDITIONALS_NEGATION", ">="}},
	token.LEQ: {{"CONDITIONALS_BOUNDARY", "<"}, {"CONDITIONALS_NEGATION", ">"}},
	token.GTR: {{"CONDITIONALS_BOUNDARY", ">="}, {"CONDITIONALS_NEGATION", "<="}},
	token.GEQ: {{"CONDITIONALS_BOUNDARY", ">"}, {"CONDITIONALS_NEGATION", "<"}},
	token.EQL: {{"CONDITIONALS_NEGATION", "!="}},
	token.NEQ: {{"CONDITIONALS_NEGATION", "=="}},
	token.ADD: {{"ARITHMETIC_BASE", "-"}},
	token.SUB: {{"ARITHMETIC_BASE", "+"}},
	token.MUL: {{"ARITHMETIC_BASE", "/"}},
	token.QUO: {{"ARITHMETIC_BASE", "*"}},
	token.REM: {{"ARITHMETIC_BASE", "*"}},
}

type mutation struct {
	Type string
	To   string
}

// Mutant is one operator replaced at one place.
type Mutant struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Type   string `json:"type"`
	From   string `json:"from"`
	To     string `json:"to"`
	Status string `json:"status"`
	offset int
}

func main() {
	pkg := flag.String("pkg", "./reconcile", "the package whose tests must kill the mutants")
	workers := flag.Int("workers", 2, "mutants tested at once")
	timeout := flag.Duration("timeout", 10*time.Minute, "per mutant")
	threshold := flag.Float64("threshold", 0, "fail below this efficacy (percent)")
	output := flag.String("output", "", "write the mutants and their status as JSON here")
	dryRun := flag.Bool("dry-run", false, "list the mutants, test none")
	flag.Parse()
	files := flag.Args()
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "usage: casemut [flags] file.go ...")
		os.Exit(2)
	}
	var mutants []*Mutant
	for _, f := range files {
		ms, err := find(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		mutants = append(mutants, ms...)
	}
	fmt.Printf("%d mutants in case clause expressions of %d files\n", len(mutants), len(files))
	if *dryRun {
		for _, m := range mutants {
			fmt.Printf("%s at %s:%d:%d (%s → %s)\n", m.Type, m.File, m.Line, m.Column, m.From, m.To)
		}
		return
	}
	tmp, err := os.MkdirTemp("", "casemut-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer os.RemoveAll(tmp)

	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				m := mutants[i]
				m.Status = test(m, *pkg, filepath.Join(tmp, fmt.Sprint(i)), *timeout)
				mu.Lock()
				fmt.Printf("%12s %s at %s:%d:%d (%s → %s)\n", m.Status, m.Type, m.File, m.Line, m.Column, m.From, m.To)
				mu.Unlock()
			}
		}()
	}
	for i := range mutants {
		work <- i
	}
	close(work)
	wg.Wait()

	counts := map[string]int{}
	for _, m := range mutants {
		counts[m.Status]++
	}
	efficacy := 100.0
	if tested := counts["KILLED"] + counts["LIVED"]; tested > 0 {
		efficacy = 100 * float64(counts["KILLED"]) / float64(tested)
	}
	fmt.Printf("Killed: %d, Lived: %d, Not viable: %d, Timed out: %d\nTest efficacy: %.2f%%\n",
		counts["KILLED"], counts["LIVED"], counts["NOT VIABLE"], counts["TIMED OUT"], efficacy)
	if *output != "" {
		data, _ := json.MarshalIndent(mutants, "", "  ")
		if err := os.WriteFile(*output, data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	if efficacy < *threshold {
		fmt.Printf("efficacy %.2f%% is below the threshold %.2f%%\n", efficacy, *threshold)
		os.Exit(1)
	}
}

// find lists the mutants in the case clause expressions of a file.
func find(path string) ([]*Mutant, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		return nil, err
	}
	var out []*Mutant
	ast.Inspect(f, func(n ast.Node) bool {
		cc, ok := n.(*ast.CaseClause)
		if !ok {
			return true
		}
		for _, e := range cc.List {
			ast.Inspect(e, func(n ast.Node) bool {
				if _, ok := n.(*ast.FuncLit); ok {
					return false // its body has coverage blocks of its own
				}
				be, ok := n.(*ast.BinaryExpr)
				if !ok {
					return true
				}
				for _, mu := range mutators[be.Op] {
					pos := fset.Position(be.OpPos)
					out = append(out, &Mutant{File: path, Line: pos.Line, Column: pos.Column, Type: mu.Type,
						From: be.Op.String(), To: mu.To, offset: pos.Offset})
				}
				return true
			})
		}
		return true
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].offset < out[j].offset })
	return out, nil
}

// test builds the package with the mutant in place of the file (an
// overlay: the tree is not written) and runs its tests.
func test(m *Mutant, pkg, dir string, timeout time.Duration) string {
	src, err := os.ReadFile(m.File)
	if err != nil {
		return "ERROR"
	}
	mutated := append(append(append([]byte{}, src[:m.offset]...), m.To...), src[m.offset+len(m.From):]...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "ERROR"
	}
	abs, _ := filepath.Abs(m.File)
	file := filepath.Join(dir, filepath.Base(m.File))
	overlay := filepath.Join(dir, "overlay.json")
	data, _ := json.Marshal(map[string]any{"Replace": map[string]string{abs: file}})
	if os.WriteFile(file, mutated, 0o644) != nil || os.WriteFile(overlay, data, 0o644) != nil {
		return "ERROR"
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-failfast", "-overlay", overlay, pkg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	switch {
	case ctx.Err() != nil:
		return "TIMED OUT"
	case err == nil:
		return "LIVED"
	case strings.Contains(out.String(), "[build failed]") || strings.Contains(out.String(), "[setup failed]"):
		return "NOT VIABLE"
	default:
		return "KILLED"
	}
}
