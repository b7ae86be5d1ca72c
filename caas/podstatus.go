package caas

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cloudmgr/cloud/api"
)

// writeStatus reports the pod's containers through the status
// subresource, when something changed.
func (m *PodManager) writeStatus(ctx context.Context, pod *api.Pod, have map[string][]ContainerStatus) error {
	st := m.podStatus(pod, have)
	old, _ := json.Marshal(pod.Status)
	now, _ := json.Marshal(st)
	if string(old) == string(now) {
		return nil
	}
	pod.Status = st
	if _, err := m.pods.UpdateStatus(ctx, pod); err != nil {
		return fmt.Errorf("update pod status: %w", err)
	}
	return nil
}

// podStatus computes phase, conditions and container states, keeping the
// transition times of conditions that did not change.
func (m *PodManager) podStatus(pod *api.Pod, have map[string][]ContainerStatus) api.PodStatus {
	st := api.PodStatus{HostIP: m.cfg.HostIP, StartTime: pod.Status.StartTime}
	if st.StartTime == nil {
		t := api.Now()
		st.StartTime = &t
	}
	var running, waiting, succeeded, failed int
	for _, c := range pod.Spec.Containers {
		cs := m.containerStatus(pod, c, have[c.Name])
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		restarting := cs.State.Terminated != nil &&
			shouldRestart(pod.Spec.RestartPolicy, ContainerStatus{State: ContainerExited, ExitCode: cs.State.Terminated.ExitCode})
		switch {
		case cs.State.Running != nil || restarting:
			running++ // a container about to restart keeps the pod running
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			succeeded++
		case cs.State.Terminated != nil:
			failed++
		case cs.LastState.Terminated != nil:
			running++ // waiting to restart: the pod still runs
		default:
			waiting++
		}
	}
	n := len(pod.Spec.Containers)
	switch {
	case waiting > 0:
		st.Phase = api.PodPending
	case running > 0:
		st.Phase = api.PodRunning
	case succeeded == n:
		st.Phase = api.PodSucceeded
	default:
		st.Phase = api.PodFailed
	}
	var unready []string
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	allReady := running == n && len(unready) == 0
	cond := func(t api.PodConditionType, ok bool, reason string) api.PodCondition {
		c := api.PodCondition{Type: t, Status: api.ConditionFalse, Reason: reason}
		if ok {
			c.Status, c.Reason = api.ConditionTrue, ""
		} else if len(unready) > 0 {
			c.Message = fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
		}
		c.LastTransitionTime = api.Now()
		for _, old := range pod.Status.Conditions {
			if old.Type == t && old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		return c
	}
	st.Conditions = []api.PodCondition{
		cond(api.PodScheduled, true, ""),
		cond(api.PodInitialized, true, ""),
		cond(api.ContainersReady, allReady, "ContainersNotReady"),
		cond(api.PodReady, allReady, "ContainersNotReady"),
	}
	return st
}

// containerStatus turns the runtime's view of one container into the
// API's: the newest attempt's state, the previous attempt as lastState, and
// the reason it is waiting when it is.
func (m *PodManager) containerStatus(pod *api.Pod, c api.Container, attempts []ContainerStatus) api.ContainerStatus {
	cs := api.ContainerStatus{Name: c.Name, Image: c.Image}
	w, isWaiting := m.waitingOf(pod.UID + "/" + c.Name)
	if len(attempts) == 0 {
		if !isWaiting {
			w = api.ContainerStateWaiting{Reason: "ContainerCreating"}
		}
		cs.State.Waiting = &w
		return cs
	}
	latest := attempts[0]
	cs.RestartCount = int32(latest.Attempt)
	cs.ContainerID = "containerd://" + latest.ID
	cs.ImageID = latest.ImageID
	switch latest.State {
	case ContainerRunning:
		started, ready := m.probes.state(pod.UID, &c, latest.ID)
		cs.Started = &started
		cs.Ready = ready
		cs.State.Running = &api.ContainerStateRunning{StartedAt: api.NewTime(latest.StartedAt)}
		if len(attempts) > 1 {
			cs.LastState.Terminated = m.terminated(attempts[1])
		}
	default:
		t := m.terminated(latest)
		if isWaiting && shouldRestart(pod.Spec.RestartPolicy, latest) {
			cs.State.Waiting = &w
			cs.LastState.Terminated = t
		} else {
			cs.State.Terminated = t
		}
	}
	return cs
}

// terminated is the API state of an exited run, with why a probe killed
// it when one did.
func (m *PodManager) terminated(c ContainerStatus) *api.ContainerStateTerminated {
	reason := "Completed"
	switch {
	case c.Reason != "":
		reason = c.Reason
	case c.OOMKilled:
		reason = "OOMKilled"
	case c.ExitCode != 0:
		reason = "Error"
	}
	msg := c.Message
	if msg == "" {
		msg = m.probes.killMessage(c.ID)
	}
	return &api.ContainerStateTerminated{
		ExitCode: c.ExitCode, Reason: reason, Message: msg, ContainerID: "containerd://" + c.ID,
		StartedAt: api.NewTime(c.StartedAt), FinishedAt: api.NewTime(c.FinishedAt),
	}
}
