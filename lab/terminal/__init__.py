"""Terminals in the course page: a root shell on a pty in a lab namespace, over a
WebSocket served beside the web app (waitress speaks no WebSocket)."""
