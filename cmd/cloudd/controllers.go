package main

import (
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/cronjob"
	"github.com/cloudmgr/cloud/controllers/daemonset"
	"github.com/cloudmgr/cloud/controllers/deployment"
	"github.com/cloudmgr/cloud/controllers/disruption"
	"github.com/cloudmgr/cloud/controllers/gc"
	"github.com/cloudmgr/cloud/controllers/hpa"
	"github.com/cloudmgr/cloud/controllers/job"
	"github.com/cloudmgr/cloud/controllers/namespace"
	"github.com/cloudmgr/cloud/controllers/nodelifecycle"
	"github.com/cloudmgr/cloud/controllers/replicaset"
)

// nodeLifecycleOptions are the node lifecycle controller's flags
// (--node-grace-period, --node-eviction-timeout).
var nodeLifecycleOptions nodelifecycle.Options

// hpaOptions are the workload autoscaler's flags (--hpa-sync-period).
var hpaOptions hpa.Options

// controllerSetups are the controllers cloudd runs while it leads: each
// registers its caches' handlers and its controllers on a fresh Manager
// (one per term of leadership; a Manager runs once). A controller package
// plugs in by appending its Setup here.
//
// The Manager acts through the API with the controller-manager role
// (apiserver.RoleController); its Recorder (controllers.NewRecorder)
// writes Events as "controller-manager".
var controllerSetups = []func(m *controllers.Manager) error{
	namespace.Setup,
	gc.Setup,
	func(m *controllers.Manager) error { return replicaset.Setup(m) },
	func(m *controllers.Manager) error { return deployment.Setup(m) },
	func(m *controllers.Manager) error { return job.Setup(m, nil) },
	func(m *controllers.Manager) error { return cronjob.Setup(m, nil) },
	func(m *controllers.Manager) error { return nodelifecycle.Setup(m, nodeLifecycleOptions) },
	daemonset.Setup,
	func(m *controllers.Manager) error { return disruption.Setup(m, disruption.Options{}) },
	func(m *controllers.Manager) error { return hpa.Setup(m, hpaOptions) },
}
