"""Peer servers for the benchmarks: scripts run by a peer's own venv (``benchmarks/litserve_peer.py`` starts them).

Nothing here is imported by the project: each script is a whole server, as a user of that server writes it.
"""
