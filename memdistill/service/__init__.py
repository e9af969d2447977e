"""Memory as a service: thin faces over `memdistill.api.Memory` for agents and programs.

`http.py` is the HTTP API (FastAPI), `mcp.py` the MCP server for coding agents, `keys.py`
the API keys that map requests to tenants. Each imports its framework only when used.
"""
