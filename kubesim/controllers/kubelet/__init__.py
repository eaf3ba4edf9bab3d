"""The kubelet of every simulated node: pulls, starts, probes, restarts and reports pods.

Each pod's containers move through the states a real kubelet reports (ContainerCreating,
ErrImagePull/ImagePullBackOff, CreateContainerConfigError, Running, terminated with Error or
OOMKilled, CrashLoopBackOff) at the simulated times a real node would need. Transitions are
timers: the kubelet exposes the earliest one, so a clock that jumps minutes still produces every
restart, event and log line at its own time.

The parts: `core` (the controller: syncs pods, writes their status, node pressure, deletion),
`containers` (one container's steps: pull, create, start, exit, back-off), `runplan` (what a
started container will do: exit, OOM kill, probe verdicts), `probe_events` and `logs` (what a
running container reports as time passes), `restore` (a runtime rebuilt from a recorded status)
and `resize` (in-place resize, 1.33+).
"""

from kubesim.controllers.kubelet.core import Kubelet

__all__ = ["Kubelet"]
