package caas

import "time"

// SetProbeTimeUnit makes one probe second (periodSeconds, timeoutSeconds,
// initialDelaySeconds) last d, so that tests of the pod loop run probes
// quickly. Call it before Run.
func SetProbeTimeUnit(m *PodManager, d time.Duration) { m.probes.unit = d }
