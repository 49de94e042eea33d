"""A minimal python-socketio 4.6 + eventlet drive server for the simulator client's tests.

It answers every `telemetry` with a fixed `steer` (strings exactly as given on the command line, so
tests choose the decimal style), can send `steer` on connect like the classic drive.py, and writes one
JSON line per received telemetry (numbers as received, image checked, and how many telemetry
messages are being answered at that moment: with `--delay` that is the number of request chains)
to `--log`. It prints its port
on the first line of stdout. Run as a subprocess: eventlet must own the process.
"""
import argparse
import base64
import json
import sys

import eventlet
import eventlet.wsgi
import socketio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steer", default="0")
    parser.add_argument("--throttle", default="0.2")
    parser.add_argument("--steer-on-connect", action="store_true")
    parser.add_argument("--ping-interval", type=float, default=25.0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds of 'inference' before each reply")
    parser.add_argument("--log", required=True)
    args = parser.parse_args()

    sio = socketio.Server(async_mode="eventlet", ping_interval=args.ping_interval)
    app = socketio.WSGIApp(sio)
    out = open(args.log, "a", buffering=1)
    reply = {"steering_angle": args.steer, "throttle": args.throttle}
    pending = [0]  # telemetry being answered right now: with a delay, this counts the request chains

    @sio.on("connect")
    def connect(sid, environ):
        out.write(json.dumps({"event": "connect"}) + "\n")
        if args.steer_on_connect:
            sio.emit("steer", data=reply, skip_sid=True)

    @sio.on("telemetry")
    def telemetry(sid, data):
        jpeg = base64.b64decode(data["image"])
        record = {key: data[key] for key in ("steering_angle", "throttle", "speed")}
        pending[0] += 1
        record.update(event="telemetry", keys=list(data), jpeg=jpeg[:2] == b"\xff\xd8", jpeg_bytes=len(jpeg),
                      pending=pending[0])
        out.write(json.dumps(record) + "\n")
        if args.delay:
            eventlet.sleep(args.delay)
        pending[0] -= 1
        sio.emit("steer", data=reply, skip_sid=True)

    listener = eventlet.listen(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    eventlet.wsgi.server(listener, app, log_output=False, log=open("/dev/null", "w"))


if __name__ == "__main__":
    sys.exit(main())
