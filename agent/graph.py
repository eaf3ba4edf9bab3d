"""The incident graph: diagnose, rationale, gate, act <-> approve, verify, escalate, report.

Each node is a function in its own module under agent.nodes; the routes are in agent.routes.
Every dependency (the MCP tools, the chat model, how to wait, the sinks) arrives as the run's
context (agent.context.IncidentContext, LangGraph's `context_schema`), never bound into the
graph: one compiled graph serves the watch loop, the approvals command, the evals, the tests
(where waiting advances a simulated clock) and LangGraph's own server (agent.studio).
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from agent import routes
from agent.context import AuditSink, IncidentContext, Sleep
from agent.nodes.act import MAX_ACT_CALLS, act
from agent.nodes.approve import approve, resolve_answer
from agent.nodes.decision import milder_edits
from agent.nodes.diagnose import diagnose
from agent.nodes.escalate import escalate
from agent.nodes.gate import gate, proposal_from
from agent.nodes.rationale import rationale, rationale_of
from agent.nodes.report import report
from agent.nodes.verify import verify
from agent.state import IncidentInput, IncidentOutput, IncidentState

__all__ = [
    "MAX_ACT_CALLS",
    "AuditSink",
    "IncidentContext",
    "Sleep",
    "build_graph",
    "milder_edits",
    "proposal_from",
    "rationale_of",
    "resolve_answer",
]


def build_graph() -> StateGraph[IncidentState, IncidentContext, IncidentInput, IncidentOutput]:
    """The uncompiled graph; compile it with a checkpointer (see agent.runner) and pass an
    IncidentContext as `context=` to every run."""
    graph = StateGraph(
        IncidentState,
        context_schema=IncidentContext,
        input_schema=IncidentInput,
        output_schema=IncidentOutput,
    )
    graph.add_node("diagnose", diagnose)
    graph.add_node("rationale", rationale)
    graph.add_node("gate", gate)
    graph.add_node("act", act)
    graph.add_node("approve", approve)
    graph.add_node("verify", verify)
    graph.add_node("escalate", escalate)
    graph.add_node("report", report)
    graph.add_edge(START, "diagnose")
    graph.add_conditional_edges("diagnose", routes.after_diagnose, ["rationale", "report"])
    graph.add_edge("rationale", "gate")
    graph.add_conditional_edges("gate", routes.after_gate, ["act", "report"])
    graph.add_conditional_edges("act", routes.after_act, ["approve", "verify", "report"])
    graph.add_conditional_edges("approve", routes.after_approve, ["act", "report"])
    graph.add_conditional_edges("verify", routes.after_verify, ["escalate", "report"])
    graph.add_conditional_edges("escalate", routes.after_escalate, ["diagnose", "report"])
    graph.add_edge("report", END)
    return graph
