"""The Udacity simulator's transport: Socket.IO 1.x/2.x over a raw WebSocket on port 4567.

`protocol.py` its messages (telemetry in, steer/manual out), `server.py` the python-socketio/eventlet
glue around `steering.drive.pipeline`, `wire.py` the WebSocket patches (TCP_NODELAY, fast unmask),
`packet_guard.py` the oversized/garbled packet filter. Nothing else in the drive stack knows this protocol.
"""
