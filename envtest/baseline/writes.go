package baseline

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// WriteKey says who spent a write: the hub ("source" or "target"), the
// cluster it was for ("" for the run-wide bootstrap identity), the HTTP verb
// and the resource (with its subresource: serviceaccounts/token,
// certificatesigningrequests/approval).
type WriteKey struct {
	Hub, Cluster, Verb, Resource string
}

// Writes counts API writes by WriteKey.
type Writes map[WriteKey]int

// Total is the number of writes.
func (w Writes) Total() int {
	n := 0
	for _, c := range w {
		n += c
	}
	return n
}

// Of keeps the writes of one cluster ("" for the run-wide ones).
func (w Writes) Of(cluster string) Writes {
	out := Writes{}
	for k, n := range w {
		if k.Cluster == cluster {
			out[k] = n
		}
	}
	return out
}

// String lists the writes one line each ("  n VERB hub resource"), in the
// order they are made in (hub, then resource), so two runs read side by side.
func (w Writes) String() string {
	keys := make([]WriteKey, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.Hub != b.Hub {
			return a.Hub < b.Hub
		}
		if a.Resource != b.Resource {
			return a.Resource < b.Resource
		}
		return a.Verb < b.Verb
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %3d %-6s %-6s %s\n", w[k], k.Verb, k.Hub, k.Resource)
	}
	return b.String()
}

type clusterKey struct{}

// forCluster marks ctx so that the writes made with it are counted for cluster.
func forCluster(ctx context.Context, cluster string) context.Context {
	return context.WithValue(ctx, clusterKey{}, cluster)
}

// counter counts every mutating request the baseline's clients send, and
// separately those that did not succeed (they are requests all the same).
// It sits in the transport, so nothing the clients do can slip past it.
type counter struct {
	mu             sync.Mutex
	writes, failed Writes
}

func newCounter() *counter { return &counter{writes: Writes{}, failed: Writes{}} }

// wrap counts the writes that go to hub through rt.
func (c *counter) wrap(hub string) func(http.RoundTripper) http.RoundTripper {
	return func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if !isWrite(r) {
				return rt.RoundTrip(r)
			}
			cluster, _ := r.Context().Value(clusterKey{}).(string)
			key := WriteKey{Hub: hub, Cluster: cluster, Verb: r.Method, Resource: resourceOf(r.URL.Path)}
			resp, err := rt.RoundTrip(r)
			c.mu.Lock()
			c.writes[key]++
			if err != nil || resp.StatusCode >= 300 {
				c.failed[key]++
			}
			c.mu.Unlock()
			return resp, err
		})
	}
}

// snapshot copies the counts so far.
func (c *counter) snapshot() (writes, failed Writes) {
	c.mu.Lock()
	defer c.mu.Unlock()
	writes, failed = Writes{}, Writes{}
	for k, n := range c.writes {
		writes[k] = n
	}
	for k, n := range c.failed {
		failed[k] = n
	}
	return writes, failed
}

// isWrite: POST, PUT, PATCH or DELETE — except reviews (access, token,
// self-subject), which are reads that happen to be POSTs, as the controller's
// end-to-end write counter has it.
func isWrite(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return !strings.HasSuffix(resourceOf(r.URL.Path), "reviews")
	}
	return false
}

// resourceOf is the resource (and subresource) a request path names:
// /api/v1/namespaces/ns/secrets/x → secrets,
// …/managedclusters/c/status → managedclusters/status.
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	}
	if len(parts) > 2 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	switch len(parts) {
	case 0:
		return path
	case 1, 2:
		return parts[0]
	}
	return parts[0] + "/" + parts[2]
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
