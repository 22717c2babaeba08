"""NETCONF-over-SSH device simulator for the lab (asyncssh, loopback only).

- ``lab.netconf.sim``: ``NetconfSimulator`` (in-process, asyncio) and
  ``ThreadedSimulator`` (same, on a thread of its own for sync callers).
- ``lab.netconf.fleet``: run the simulator as a separate process from a JSON
  spec in a state directory; ``NetconfControl`` injects faults from anywhere.
- ``lab.netconf.model``: the devices' YANG-shaped data; ``lab.netconf.hostile``:
  bad replies for client-side tests.
"""
