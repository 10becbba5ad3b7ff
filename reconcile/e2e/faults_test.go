package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/kubernetes/scheme"
)

// The fault-injecting transport of the crash sweep (crash_sweep_test.go).
//
// It wraps every client of one controller under test (startScoped, as
// withTransport does for startController: the home clients, the Event
// recorder's client and every hub client the registry builds) and sees each request that controller makes. It counts
// the *mutating* ones — POST, PUT, PATCH, DELETE to any API server — except:
//   - SelfSubjectAccessReview / SelfSubjectReview / SubjectAccessReview
//     POSTs: reads that happen to be POSTs (recognised as the write counter
//     of main_test.go does);
//   - Event writes (POST/PATCH …/events): the Event recorder's client is
//     wrapped too, but Events are output, not progress — nothing is decided
//     from them, a lost one changes no outcome — and the broadcaster writes
//     them from its own goroutine at its own pace, so counting them would make
//     "the k-th write" differ from one run to the next. They are not counted
//     and no fault is aimed at them; once a fault has fired they fail like
//     every other request of the dead controller.
//
// At the k-th mutating request a crash fault fires:
//   - crashBefore: the request is not sent (the process died just before it);
//   - crashAfter: the request is sent and answered, and the answer is thrown
//     away (the process died before it used the reply).
//
// Either way the transport returns an error, closes fired, and from then on
// fails every request of that controller at once — reads too — so the dead
// controller cannot write again while the test goroutine stops it and starts
// a fresh one. (Calling the controller's stop from inside RoundTrip would
// deadlock: stop waits for Run, whose goroutine may be the one in RoundTrip.)
//
// For the chaos run it can instead, at a given rate (seeded), answer a
// mutating request with a 409, 429 or 500 without sending it, or time it out
// before or after sending it (after: it reached the server, the reply is lost).
//
// Every mutating request (and every one refused after the crash) is logged in
// a faultLog shared by the controllers of one run, with what the server
// answered: the duplicate-effect check reads creates and minted tokens from it.

type faultMode string

const (
	crashBefore faultMode = "before"
	crashAfter  faultMode = "after"
)

// errCrashed is what a crashed controller's requests get.
var errCrashed = errors.New("fault injection: the controller crashed")

// faultRequest is one mutating request of a run, as the transport saw it.
type faultRequest struct {
	Controller string // which controller of the run made it ("first", "recovery", ...)
	N          int    // its number among that controller's counted requests (0: not counted)
	Method     string
	Host, Path string
	Name       string // metadata.name of the request body (POST) or the last path segment
	Sent       bool   // it reached the API server
	Status     int    // the server's HTTP status (0: not sent, or no reply)
	Fault      string // "" or what the transport did to it
	// Created is, for a POST the server answered 2xx, the object the
	// server made: host + path + "/" + the name in its reply.
	Created string
	// Token is, for a TokenRequest the server answered, the minted token;
	// Bound the anchor Secret it is bound to. For a Secret POST, Token is
	// the bearer token carried in its kubeconfig (the bootstrap Secret).
	Token, Bound string
	// Rollback: the body writes the Rollbacking phase (the rollback decision).
	Rollback bool
}

func (r faultRequest) String() string {
	s := r.Method + " " + r.Path
	if r.Method == http.MethodPost && r.Name != "" {
		s += " (" + r.Name + ")"
	}
	return s
}

type faultLog struct {
	mu   sync.Mutex
	reqs []faultRequest
}

func (l *faultLog) add(r faultRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r)
}

func (l *faultLog) all() []faultRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]faultRequest(nil), l.reqs...)
}

// dump lists the counted requests of a run, one a line, for a failure message.
func (l *faultLog) dump() string {
	var b strings.Builder
	for _, r := range l.all() {
		fmt.Fprintf(&b, "  %-9s #%-3d %-6s %s%s %s -> %d %s\n", r.Controller, r.N, r.Method, r.Host, r.Path, r.Name, r.Status, r.Fault)
	}
	return b.String()
}

// chaosFaults are what a chaos transport injects.
var chaosFaults = []string{"409", "429", "500", "timeout-before", "timeout-after"}

// faultTransport is the transport of one controller.
type faultTransport struct {
	controller string
	log        *faultLog
	crashAt    int // 0: no crash
	mode       faultMode
	chaosRate  float64

	mu          sync.Mutex
	rng         *rand.Rand
	n           int
	dead        bool
	fired       chan struct{}
	interrupted faultRequest
	injected    map[string]int
}

// newFaultTransport: crashAt 0 only records.
func newFaultTransport(controller string, log *faultLog, crashAt int, mode faultMode) *faultTransport {
	return &faultTransport{controller: controller, log: log, crashAt: crashAt, mode: mode, fired: make(chan struct{}), injected: map[string]int{}}
}

// withChaos makes the transport inject a fault into that share of the
// mutating requests, chosen by a generator seeded with seed.
func (f *faultTransport) withChaos(rate float64, seed uint64) *faultTransport {
	f.chaosRate = rate
	f.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return f
}

// counted requests, the count at the end.
func (f *faultTransport) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// hasFired reports whether the crash fault fired, and at which request.
func (f *faultTransport) hasFired() (faultRequest, bool) {
	select {
	case <-f.fired:
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.interrupted, true
	default:
		return faultRequest{}, false
	}
}

func (f *faultTransport) injectedSummary() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.injected {
		out[k] = v
	}
	return out
}

func isMutating(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// isReview: reviews are reads that happen to be POSTs (as the write counter).
func isReview(path string) bool {
	return strings.Contains(path, "accessreviews") || strings.Contains(path, "selfsubjectreviews")
}

// isEvent: a write of the Event recorder (core/v1 or events.k8s.io).
func isEvent(path string) bool {
	return strings.HasSuffix(path, "/events") || strings.Contains(path, "/events/")
}

func isTokenRequest(path string) bool {
	return strings.Contains(path, "/serviceaccounts/") && strings.HasSuffix(path, "/token")
}

func (f *faultTransport) roundTrip(rt http.RoundTripper, r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	dead := f.dead
	f.mu.Unlock()
	counted := isMutating(r.Method) && !isReview(r.URL.Path) && !isEvent(r.URL.Path)
	if !counted {
		if dead {
			return nil, errCrashed
		}
		return rt.RoundTrip(r)
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	rec := faultRequest{Controller: f.controller, Method: r.Method, Host: r.URL.Host, Path: r.URL.Path, Name: requestName(r, body)}
	if rec.Method == http.MethodPost {
		rec.Token = secretToken(body)
	}
	rec.Rollback = bytes.Contains(body, []byte(`"Rollbacking"`))
	if dead {
		rec.Fault = "refused: crashed"
		f.log.add(rec)
		return nil, errCrashed
	}

	f.mu.Lock()
	if f.dead { // another goroutine crashed it meanwhile
		f.mu.Unlock()
		rec.Fault = "refused: crashed"
		f.log.add(rec)
		return nil, errCrashed
	}
	f.n++
	rec.N = f.n
	crash := f.crashAt > 0 && f.n == f.crashAt
	chaos := ""
	if crash {
		// From now on every other request of this controller fails.
		f.dead = true
	} else if f.chaosRate > 0 && f.rng.Float64() < f.chaosRate {
		chaos = chaosFaults[f.rng.IntN(len(chaosFaults))]
		f.injected[chaos]++
	}
	f.mu.Unlock()

	fire := func() {
		f.mu.Lock()
		f.interrupted = rec
		f.mu.Unlock()
		close(f.fired)
	}
	switch {
	case crash && f.mode == crashBefore:
		rec.Fault = "crash before sending"
		f.log.add(rec)
		fire()
		return nil, errCrashed
	case chaos == "409" || chaos == "429" || chaos == "500" || chaos == "timeout-before":
		rec.Fault = "injected " + chaos
		f.log.add(rec)
		if chaos == "timeout-before" {
			return nil, fmt.Errorf("fault injection: %w", context.DeadlineExceeded)
		}
		return statusResponse(r, chaos), nil
	}

	resp, err := rt.RoundTrip(r)
	rec.Sent = true
	if err == nil {
		rec.Status = resp.StatusCode
		respBody, readErr := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(respBody))
		if readErr != nil {
			err = readErr
		}
		if rec.Method == http.MethodPost && resp.StatusCode/100 == 2 {
			rec.Created, rec.Token, rec.Bound = created(rec, respBody, rec.Token)
		}
	}
	switch {
	case crash: // crashAfter
		rec.Fault = "crash after sending: reply lost"
		f.log.add(rec)
		fire()
		return nil, errCrashed
	case chaos == "timeout-after":
		rec.Fault = "injected timeout after sending: reply lost"
		f.log.add(rec)
		return nil, fmt.Errorf("fault injection: %w", context.DeadlineExceeded)
	}
	f.log.add(rec)
	return resp, err
}

// readBody reads a request's body and puts it back.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return b, nil
}

// objectHead is what the transport reads of a request's or a reply's body:
// JSON (the dynamic client) or protobuf (the typed clients).
type objectHead struct {
	Name, Bound, Token string
	Data               map[string][]byte
}

func decodeHead(body []byte) (objectHead, bool) {
	var h objectHead
	if len(body) == 0 {
		return h, false
	}
	if body[0] == '{' {
		var j struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				BoundObjectRef struct {
					Name string `json:"name"`
				} `json:"boundObjectRef"`
			} `json:"spec"`
			Status struct {
				Token string `json:"token"`
			} `json:"status"`
			Data map[string][]byte `json:"data"` // base64 in JSON
		}
		if json.Unmarshal(body, &j) != nil {
			return h, false
		}
		return objectHead{Name: j.Metadata.Name, Bound: j.Spec.BoundObjectRef.Name, Token: j.Status.Token, Data: j.Data}, true
	}
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
	if err != nil {
		return h, false
	}
	switch o := obj.(type) {
	case *authenticationv1.TokenRequest:
		h.Bound, h.Token = o.Spec.BoundObjectRef.Name, o.Status.Token
	case *corev1.Secret:
		h.Data = o.Data
	}
	if m, err := meta.Accessor(obj); err == nil {
		h.Name = m.GetName()
	}
	return h, true
}

// requestName is the object a request is about: the body's name for a
// create (a TokenRequest: its anchor), else the last path segment.
func requestName(r *http.Request, body []byte) string {
	if r.Method == http.MethodPost {
		h, _ := decodeHead(body)
		if h.Bound != "" {
			return "bound to " + h.Bound
		}
		return h.Name
	}
	return r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
}

// secretToken is the bearer token of the kubeconfig a Secret's body carries
// (the bootstrap kubeconfig Secret), "" for anything else.
func secretToken(body []byte) string {
	h, _ := decodeHead(body)
	for _, line := range strings.Split(string(h.Data["kubeconfig"]), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "token: "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// created reads a successful create's reply: what the server made (and, for
// a TokenRequest, the token and its anchor).
func created(rec faultRequest, respBody []byte, token string) (key, tok, bound string) {
	h, _ := decodeHead(respBody)
	if isTokenRequest(rec.Path) {
		return rec.Host + rec.Path + "/" + h.Bound, h.Token, h.Bound
	}
	return rec.Host + rec.Path + "/" + h.Name, token, ""
}

// statusResponse is an API server's error answer, made up.
func statusResponse(r *http.Request, code string) *http.Response {
	status := map[string]int{"409": http.StatusConflict, "429": http.StatusTooManyRequests, "500": http.StatusInternalServerError}[code]
	reason := map[string]string{"409": "Conflict", "429": "TooManyRequests", "500": "InternalError"}[code]
	body, _ := json.Marshal(map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": status, "reason": reason,
		"message": "fault injection: " + code,
	})
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)), Request: r,
	}
}

// staleMint names a re-mint the sweep found in about 40% of its runs, crash
// or no crash, before b5d6cb2: the planner minted a cluster's token again
// because its informer had not yet shown the bootstrap Secret the previous
// MintToken wrote; the Secret create then met AlreadyExists (treated as done)
// and the new token was dropped. MintToken now reads the Secret live first.
const staleMint = "token minted again while its bootstrap Secret already existed (the informer had not shown it yet)"

// duplicateEffects checks a run's log: no object created twice, and a
// cluster's token minted again only where the transport lost the previous
// one — its TokenRequest's reply was thrown away, or the bootstrap Secret
// that would have carried it was never written because of a fault — never
// because the controller forgot it had one. It returns what went wrong.
func duplicateEffects(log []faultRequest) (problems []string) {
	creates := map[string][]faultRequest{}
	mints := map[string][]faultRequest{} // anchor → TokenRequests the server answered
	for _, r := range log {
		if r.Created == "" {
			continue
		}
		if isTokenRequest(r.Path) {
			mints[r.Bound] = append(mints[r.Bound], r)
			continue
		}
		creates[r.Created] = append(creates[r.Created], r)
	}
	for key, rs := range creates {
		if len(rs) > 1 {
			var which []string
			for _, r := range rs {
				which = append(which, fmt.Sprintf("%s #%d", r.Controller, r.N))
			}
			problems = append(problems, fmt.Sprintf("%s created %d times (%s)", key, len(rs), strings.Join(which, ", ")))
		}
	}
	for anchor, ms := range mints {
		persisted := 0
		for _, m := range ms {
			written, faulted, existed := false, m.Fault != "", false
			for _, r := range log {
				if r.Method != http.MethodPost || r.Token != m.Token || isTokenRequest(r.Path) {
					continue
				}
				switch {
				case r.Created != "":
					written = true
				case r.Fault != "":
					faulted = true // never written because of a fault
				case r.Status == http.StatusConflict:
					existed = true
				}
			}
			what := fmt.Sprintf("token bound to %s (%s #%d)", anchor, m.Controller, m.N)
			switch {
			case written:
				persisted++
			case faulted:
				// Lost to the fault; bound to the anchor, revoked with it.
			case existed:
				problems = append(problems, what+": "+staleMint)
			default:
				problems = append(problems, what+" minted and never written to its bootstrap Secret, with no fault to explain it")
			}
		}
		if persisted > 1 {
			problems = append(problems, fmt.Sprintf("%d tokens bound to %s written to bootstrap Secrets", persisted, anchor))
		}
	}
	return problems
}

// mintedTokens are every token minted in a run (lost replies included).
func mintedTokens(log []faultRequest) []string {
	var out []string
	for _, r := range log {
		if isTokenRequest(r.Path) && r.Token != "" {
			out = append(out, r.Token)
		}
	}
	return out
}

// waitFired waits until the crash fault fires or done says the job is over.
func (f *faultTransport) waitFired(timeout time.Duration, done func() bool) (faultRequest, bool) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if req, ok := f.hasFired(); ok {
			return req, true
		}
		if done() {
			// One more look: it may have fired on the last write.
			return f.hasFired()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return f.hasFired()
}
