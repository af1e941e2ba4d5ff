"""Node agents: each serves one node's snapshot and trace phases over HTTPS, signed requests.

    cnilab agent --node node1 --token-file /etc/cnilab/agent.token   # on each node

On a real node an agent serves the host's namespace and the pods on it; several
agents on one machine each serve a namespace standing in for a host (`--netns`).
The web app, given the agents (AGENTS, `cnilab serve --agents FILE`), merges their
graphs (follow.py, merge.py) and coordinates traces across them (coordinator.py).
The embedded lab needs none of this: its app reads every namespace in-process.

scope.py   which namespaces an agent serves, and their qualified names
tag.py     an inspector snapshot as the agent publishes it
captures.py armed captures between requests, closed when abandoned
reach.py   where a probe may go: lab addresses only
service.py the agent's work; server.py its HTTP face (a WSGI app)
signing.py HMAC-signed, non-replayable requests (the token never travels)
cert.py    the agent's self-signed certificate and the fingerprint clients pin
httpd.py   the production server: gunicorn's asyncio worker, a bounded thread pool
client.py  AgentRef, AgentClient (pinned TLS, signing, clock offsets)
wire.py    frames and namespace facts on the wire
"""
