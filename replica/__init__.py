"""Reads that may move to the streaming replica, and when the replica may serve them.

`reads.py` names the reads and runs them (the router in churchapp/routers.py follows it);
`health.py` knows whether the replica is up, how far behind it is, and whether it has replayed
a given position of the primary's write-ahead log.
"""
