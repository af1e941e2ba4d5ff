"""Node agents: each serves one node's snapshot, events and trace phases over HTTP.

    cnilab agent --node node1 --token-file /etc/cnilab/agent.token   # on each node

On a real node an agent serves the host's namespace and the pods on it; several
agents on one machine each serve a namespace standing in for a host (`--netns`).
The web app, given the agents (AGENTS, `cnilab serve --agents FILE`), merges their
graphs (follow.py, merge.py) and coordinates traces across them (coordinator.py).
The embedded lab needs none of this: its app reads every namespace in-process.

scope.py   which namespaces an agent serves, and their qualified names
tag.py     an inspector snapshot as the agent publishes it
captures.py armed captures between requests, closed when abandoned
service.py the agent's work; server.py its HTTP face (werkzeug, token)
client.py  AgentRef, AgentClient (and clock offsets)
wire.py    frames and namespace facts on the wire
"""
