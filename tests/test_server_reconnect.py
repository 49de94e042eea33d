"""Connection life: reconnect storms, controller reset per connection, server start/stop hygiene."""
from __future__ import annotations

import gc
import os
import threading
import time

import pytest
from drive_wire import SimulatorSocket, real_center_frames, steer_values, telemetry

from steering.drive import ControlConfig, DriveConfig, TransportConfig, running_server
from steering.inference import Predictor

KP, KI, TARGET = 0.1, 0.002, 12.0


def resources() -> dict[str, int]:
    gc.collect()
    with open("/proc/self/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return {
        "python_threads": threading.active_count(),
        "os_threads": len(os.listdir("/proc/self/task")),
        "fds": len(os.listdir("/proc/self/fd")),
        "rss_kb": rss_kb,
    }


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def cycle(port: int, jpeg: bytes, abrupt: bool) -> tuple[int, float]:
    """One simulator connection: greeting, a ping, one frame; then a clean close or a dropped socket."""
    sim = SimulatorSocket(port)
    assert sim.recv_event() == ("steer", {"steering_angle": "0", "throttle": "0"})
    sim.ping()
    sim.send_telemetry(telemetry(jpeg, speed=10.0))
    name, data = sim.recv_event()
    assert name == "steer"
    if abrupt:
        sim.ws.sock.close()  # the socket just drops, no WebSocket close frame
    else:
        sim.close()
    return sim.pongs, steer_values(data)[1]


def test_200_reconnects_leave_no_threads_fds_or_memory_behind(make_checkpoint):
    jpeg = real_center_frames(1)[0]
    predictor = Predictor(make_checkpoint("pilotnet"))
    with running_server(predictor, DriveConfig(transport=TransportConfig(port=0), stats_every=0,
                                                     control=ControlConfig(target_speed=TARGET))) as server:
        for i in range(20):  # warm-up: first-use allocations, lazily started service tasks
            cycle(server.port, jpeg, abrupt=i % 2 == 1)
        assert wait_for(lambda: server.stats["connections"] == 0)
        before = resources()
        pongs, throttles = [], []
        for i in range(200):
            p, t = cycle(server.port, jpeg, abrupt=i % 2 == 1)
            pongs.append(p)
            throttles.append(t)
        assert wait_for(lambda: server.stats["connections"] == 0 and not server.sio.eio.sockets), \
            f"connections left open: {server.stats['connections']}, engineio sockets {len(server.sio.eio.sockets)}"
        after = resources()
        counters = server.stats["counters"]
    assert pongs == [1] * 200, "every ping answered on every connection"
    # A fresh controller per connection: the first frame always gets the untouched PI output.
    assert throttles == pytest.approx([KP * 2 + KI * 2] * 200)
    assert counters["connect"] == counters["disconnect"] == 220
    assert after["python_threads"] == before["python_threads"], (before, after)
    assert after["os_threads"] == before["os_threads"], (before, after)
    assert after["fds"] <= before["fds"] + 2, (before, after)
    # 200 connections with a leak of even 20 kB each would show as 4 MB.
    assert after["rss_kb"] - before["rss_kb"] < 4096, (before, after)


def test_controller_state_resets_on_reconnect(make_checkpoint):
    jpeg = real_center_frames(1)[0]
    with running_server(make_checkpoint("pilotnet"), DriveConfig(transport=TransportConfig(port=0), stats_every=0,
                                                     control=ControlConfig(target_speed=TARGET))) as server:
        sim = SimulatorSocket(server.port)
        sim.recv_event()
        for _ in range(30):  # standing still: the integrator winds up to full throttle
            sim.send_telemetry(telemetry(jpeg, speed=0.0))
            last = steer_values(sim.recv_event()[1])
        assert last[1] == pytest.approx(0.6), "wound-up PI should sit at max_throttle"
        sim.close()
        sim = SimulatorSocket(server.port)
        sim.recv_event()
        sim.send_telemetry(telemetry(jpeg, speed=11.0))
        fresh = steer_values(sim.recv_event()[1])
        sim.close()
    assert fresh[1] == pytest.approx(KP * 1.0 + KI * 1.0), "new connection must start with an empty integrator"


def test_servers_start_and_stop_without_leaking(make_checkpoint):
    predictor = Predictor(make_checkpoint("pilotnet"))
    jpeg = real_center_frames(1)[0]

    def one_server() -> None:
        with running_server(predictor, DriveConfig(transport=TransportConfig(port=0), stats_every=0)) as server:
            cycle(server.port, jpeg, abrupt=False)
            sim = SimulatorSocket(server.port)  # still connected when the server stops
            sim.recv_event()
        # The server said goodbye: steer 0,0 then a Socket.IO disconnect and an Engine.IO close.
        assert sim.recv_event() == ("steer", {"steering_angle": "0.000000", "throttle": "0.000000"})
        sim.close()

    one_server()
    before = resources()
    for _ in range(5):
        one_server()
    after = resources()
    assert after["os_threads"] == before["os_threads"] and after["fds"] <= before["fds"], (before, after)


def test_port_in_use_is_a_clear_error(make_checkpoint):
    predictor = Predictor(make_checkpoint("pilotnet"))
    with running_server(predictor, DriveConfig(transport=TransportConfig(port=0), stats_every=0)) as server:
        with pytest.raises(OSError, match="cannot listen on 127.0.0.1:.*another drive.py"):
            with running_server(predictor, DriveConfig(transport=TransportConfig(port=server.port), stats_every=0)):
                pass
