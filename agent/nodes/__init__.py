"""The incident graph's nodes, one module each: `async def node(state, runtime) -> update`.

Each reads what it needs from the outside world from `runtime.context` (agent.context) and
returns a JSON-native state update (agent.state); agent.graph wires them.
"""
