package reconcile

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// NewEventRecorder records Events on migrations. client-go's defaults (a
// burst of 25 Events per object, similar Events merged after 10) would drop
// or blur the per-cluster Events of a large migration, so both are raised;
// Events are only ever emitted for something that happened.
func NewEventRecorder(ctx context.Context, kube kubernetes.Interface) (record.EventRecorder, func()) {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx), record.WithCorrelatorOptions(record.CorrelatorOptions{
		BurstSize: 10000, QPS: 50, MaxEvents: 10000,
	}))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "hubmigrate"}), broadcaster.Shutdown
}
