"""The closed set of actions, their risk levels and the mildness order the veto relies on."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """Everything kubemedic may decide to do (docs/contracts.md, "Actions")."""

    NONE = "none"
    INVESTIGATE_MANUALLY = "investigate_manually"
    CHECK_IMAGE_AVAILABILITY = "check_image_availability"
    DELETE_POD = "delete_pod"
    DELETE_EVICTED_POD = "delete_evicted_pod"
    SCALE_DOWN_DEPLOYMENT = "scale_down_deployment"
    INCREASE_MEMORY_LIMIT = "increase_memory_limit"
    ROLLBACK_DEPLOYMENT = "rollback_deployment"


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


_RISK_RANK = {Risk.LOW: 0, Risk.MEDIUM: 1, Risk.HIGH: 2}


def risk_at_most(risk: Risk, ceiling: Risk) -> bool:
    """True when `risk` is no higher than `ceiling`."""
    return _RISK_RANK[risk] <= _RISK_RANK[ceiling]


# Every action that writes to the cluster. All of them are destructive in the approval sense:
# each one removes a pod or rolls the workload's pods, so each needs a human unless the policy
# auto-approves its class.
WRITE_ACTIONS: frozenset[Action] = frozenset(
    {
        Action.DELETE_POD,
        Action.DELETE_EVICTED_POD,
        Action.SCALE_DOWN_DEPLOYMENT,
        Action.INCREASE_MEMORY_LIMIT,
        Action.ROLLBACK_DEPLOYMENT,
    }
)
DESTRUCTIVE_ACTIONS: frozenset[Action] = WRITE_ACTIONS

# Actions whose write target is the owning workload rather than the pod.
WORKLOAD_ACTIONS: frozenset[Action] = frozenset(
    {Action.SCALE_DOWN_DEPLOYMENT, Action.INCREASE_MEMORY_LIMIT, Action.ROLLBACK_DEPLOYMENT}
)

# How much an action can disturb: lower is milder. `none` is the mildest but is only ever
# allowed when the rules themselves say the pod is healthy; handing over to a human is milder
# than classifying a pull error (which still reads the cluster and reports). Scaling down and
# raising a limit are both a change to the workload and rank alike.
MILDNESS: dict[Action, int] = {
    Action.NONE: 0,
    Action.INVESTIGATE_MANUALLY: 1,
    Action.CHECK_IMAGE_AVAILABILITY: 2,
    Action.DELETE_EVICTED_POD: 3,
    Action.DELETE_POD: 4,
    Action.SCALE_DOWN_DEPLOYMENT: 5,
    Action.INCREASE_MEMORY_LIMIT: 5,
    Action.ROLLBACK_DEPLOYMENT: 6,
}


def is_milder(a: Action, b: Action) -> bool:
    """True when action `a` disturbs strictly less than action `b`."""
    return MILDNESS[a] < MILDNESS[b]


_BY_NAME: dict[str, Action] = {action.value: action for action in Action}


def parse_action(value: object) -> Action | None:
    """The Action named by `value`, or None when it names none (untrusted input)."""
    if isinstance(value, Action):
        return value
    if isinstance(value, str):
        exact = _BY_NAME.get(value)
        if exact is not None:
            return exact
        try:
            return Action(value.strip().lower())
        except ValueError:
            return None
    return None
