"""The MCP tools: input/output models, their work (impl) and their registration (registry)."""
