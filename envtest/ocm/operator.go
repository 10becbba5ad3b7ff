package ocm

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Operator stands in for the klusterlet operator of one managed cluster: it
// reads the klusterlet the work agent applied in the cluster's agent
// namespace (the ConfigMap and bootstrap Secrets the Importer renders),
// writes the bootstrap kubeconfigs where the agent's flags point (a pod
// mounts them), and starts the agent with OCM's flags for that mode. When the
// rendered klusterlet changes it restarts the agent with the new flags, as
// the operator rewrites the agent's Deployment.
type Operator struct {
	cluster, dir string
	base         []string
	home         kubernetes.Interface

	mu    sync.Mutex
	agent *Supervised
	args  []string
	// work is Default mode's work agent (nil in Singleton mode), restarted
	// when the hub kubeconfig it reads changes (--terminate-on-files).
	work    *Supervised
	hubSeen []byte

	cancel context.CancelFunc
	done   chan struct{}
}

// StartOperator starts the stand-in; base are the agent's flags that do not
// come from the klusterlet (cluster name, namespaces, the managed cluster's
// kubeconfig, the hub kubeconfig directory).
func StartOperator(cluster, dir string, home *rest.Config, base []string) (*Operator, error) {
	kube, err := kubernetes.NewForConfig(home)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &Operator{cluster: cluster, dir: dir, base: base, home: kube, cancel: cancel, done: make(chan struct{})}
	go o.run(ctx)
	return o, nil
}

// Agent is the supervised agent, nil until the klusterlet was first read.
func (o *Operator) Agent() *Supervised {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.agent
}

// Stop stops the operator and the agent.
func (o *Operator) Stop() {
	o.cancel()
	<-o.done
	if a := o.Agent(); a != nil {
		a.Stop()
	}
	o.mu.Lock()
	w := o.work
	o.mu.Unlock()
	if w != nil {
		w.Stop()
	}
}

func (o *Operator) run(ctx context.Context) {
	defer close(o.done)
	for ctx.Err() == nil {
		if err := o.sync(ctx); err != nil && ctx.Err() == nil {
			os.WriteFile(filepath.Join(o.dir, "operator.err"), []byte(err.Error()+"\n"), 0o644) //nolint:errcheck
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (o *Operator) sync(ctx context.Context) error {
	ns := AgentNamespace(o.cluster)
	cm, err := o.home.CoreV1().ConfigMaps(ns).Get(ctx, klusterletConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	names := strings.Split(cm.Data["bootstrapSecrets"], ",")
	changed := false
	var files []string
	for _, name := range names {
		s, err := o.home.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		file := filepath.Join(o.dir, "bootstrap", name, "kubeconfig")
		if old, err := os.ReadFile(file); err != nil || !bytes.Equal(old, s.Data["kubeconfig"]) {
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(file, s.Data["kubeconfig"], 0o600); err != nil {
				return err
			}
			changed = true
		}
		files = append(files, file)
	}
	// The flags of OCM's klusterlet-agent-deployment.yaml (Singleton) or
	// klusterlet-registration-deployment.yaml (Default), with the paths where
	// a pod would mount the Secrets.
	singletonMode := cm.Data["mode"] != "Default"
	hubKubeconfig := filepath.Join(o.dir, "hub-kubeconfig", "kubeconfig")
	args := slices.Clone(o.base)
	args = append(args, "--singleton="+map[bool]string{true: "true", false: "false"}[singletonMode],
		"--workload-source-driver=kube", "--workload-source-config="+hubKubeconfig)
	if cm.Data["multipleHubs"] == "true" {
		args = append(args, "--feature-gates=MultipleHubs=true")
		for _, f := range files {
			args = append(args, "--bootstrap-kubeconfigs="+f)
		}
	} else {
		args = append(args, "--bootstrap-kubeconfig="+files[0], "--bootstrap-kubeconfig-secret="+names[0])
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.agent == nil:
		a, err := Start(o.cluster+"-agent", childAgent, filepath.Join(o.dir, "agent.log"), args...)
		if err != nil {
			return err
		}
		o.agent, o.args = a, args
	case !slices.Equal(args, o.args) || changed:
		// A new configuration, or a bootstrap kubeconfig that changed: the
		// operator rolls the agent's pod.
		o.agent.SetArgs(args...)
		o.agent.Restart()
		o.args = args
	}
	return o.syncWorkAgent(singletonMode, hubKubeconfig)
}

// syncWorkAgent runs Default mode's work agent (klusterlet-work-deployment.yaml's
// flags) and restarts it when the hub kubeconfig changes, as its
// --terminate-on-files does; in Singleton mode there is none.
func (o *Operator) syncWorkAgent(singletonMode bool, hubKubeconfig string) error {
	if singletonMode {
		if o.work != nil {
			o.work.Stop()
			o.work = nil
		}
		return nil
	}
	current, _ := os.ReadFile(hubKubeconfig)
	if o.work == nil {
		var base []string
		for _, a := range o.base {
			if strings.HasPrefix(a, "--kubeconfig=") || strings.HasPrefix(a, "--spoke-cluster-name=") ||
				strings.HasPrefix(a, "--agent-namespace=") || strings.HasPrefix(a, "--agent-id=") {
				base = append(base, a)
			}
		}
		w, err := Start(o.cluster+"-work-agent", childWorkAgent, filepath.Join(o.dir, "work-agent.log"),
			append(base, "--workload-source-driver=kube", "--workload-source-config="+hubKubeconfig)...)
		if err != nil {
			return err
		}
		o.work, o.hubSeen = w, current
		return nil
	}
	if !bytes.Equal(current, o.hubSeen) {
		o.hubSeen = current
		o.work.Restart()
	}
	return nil
}
