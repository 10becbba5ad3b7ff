package ocm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// restartDelay is how long the supervisor waits before starting an exited
// child again. A kubelet backs off up to five minutes; a test cannot wait
// that long, and OCM's agents exit on purpose to reload their configuration.
const restartDelay = 500 * time.Millisecond

var errStopped = errors.New("stopped")

// Supervised is an OCM component running as a child process of the test
// binary, started again whenever it exits, as a kubelet restarts a container.
type Supervised struct {
	name, kind string
	logPath    string

	mu       sync.Mutex
	args     []string
	cmd      *exec.Cmd
	starts   int
	stopped  bool
	finished chan struct{}
}

// Start starts the component and keeps it running until Stop.
func Start(name, kind, logPath string, args ...string) (*Supervised, error) {
	s := &Supervised{name: name, kind: kind, logPath: logPath, args: args, finished: make(chan struct{})}
	exited, err := s.startOnce()
	if err != nil {
		return nil, err
	}
	go s.keepRunning(exited)
	return s, nil
}

// startOnce starts the process; the channel closes when it has exited.
func (s *Supervised) startOnce() (<-chan struct{}, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	log, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		log.Close()
		return nil, errStopped
	}
	cmd := exec.Command(self, s.args...)
	cmd.Env = append(os.Environ(), childEnv+"="+s.kind)
	cmd.Stdout, cmd.Stderr = log, log
	fmt.Fprintf(log, "=== %s start %d at %s: %v\n", s.name, s.starts+1, time.Now().Format(time.RFC3339Nano), s.args)
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	s.cmd = cmd
	s.starts++
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(log, "=== %s exited at %s: %v\n", s.name, time.Now().Format(time.RFC3339Nano), err)
		log.Close()
		close(exited)
	}()
	return exited, nil
}

func (s *Supervised) keepRunning(exited <-chan struct{}) {
	defer close(s.finished)
	for {
		<-exited
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if stopped {
			return
		}
		time.Sleep(restartDelay)
		var err error
		if exited, err = s.startOnce(); errors.Is(err, errStopped) {
			return
		} else if err != nil {
			fmt.Fprintf(os.Stderr, "%s: start again: %v\n", s.name, err)
			return
		}
	}
}

// SetArgs changes the flags the next start uses (the klusterlet operator
// rewriting the agent's Deployment).
func (s *Supervised) SetArgs(args ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.args = args
}

// Restart kills the running process (a pod deleted by its admin); the
// supervisor starts it again.
func (s *Supervised) Restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.cmd.Process.Kill()
}

// Starts is how many times the component has been started.
func (s *Supervised) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// Stop stops the component for good.
func (s *Supervised) Stop() {
	s.mu.Lock()
	s.stopped = true
	cmd := s.cmd
	s.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.finished:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-s.finished
	}
}
