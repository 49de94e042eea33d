"""The wire client's stall detection: only replies to telemetry are signs of life.

A drive server whose telemetry handler raises still answers pings; the client must report that
within `reply_timeout_s`, naming the server's address and the telemetry it sent last, and a slow
server that does answer must not be taken for a stalled one.
"""
from __future__ import annotations

import re
import threading
import time

from steering.drive import DriveConfig, TransportConfig
from steering.drive.udacity.server import DriveServer
from steering.sim.client import ClientConfig, SimClient, SimClientError, describe_packet, telemetry_packet
from steering.sim.world import World, WorldConfig


class ConstantModel:
    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds

    def prepare(self, frame):
        return frame

    def infer(self, x) -> float:
        time.sleep(self.seconds)
        return 0.1

    def configure_thread(self) -> None:
        pass

    def describe(self) -> str:
        return "constant"


def oval_world() -> World:
    return World(WorldConfig(track="oval", start_speed_mph=10))


def run_in_thread(client: SimClient, seconds: float, **kwargs) -> dict:
    """Run the client; returns {"result": ...} or {"error": ...}, or {} if it still runs after `seconds`."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["result"] = client.run(**kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome


def test_describe_packet_gives_the_numbers_and_the_image_length():
    packet = telemetry_packet(-3.5, 0.2, 30.19034, b"\xff\xd8" + b"x" * 100)
    assert describe_packet(packet, 7) == ('telemetry #7 42["telemetry",{"steering_angle":"-3.5000",'
                                          '"throttle":"0.2000","speed":"30.1903","image":<136 base64 chars>}]')
    assert describe_packet("", 0) == "no telemetry yet"


def test_server_answering_pings_but_not_telemetry_is_reported_with_address_and_last_telemetry():
    server = DriveServer(ConstantModel(), DriveConfig(transport=TransportConfig(port=0), stats_every=0))
    server.sio.eio.ping_interval = 0.1  # the client pings every 0.1 s, and pongs keep coming
    answer = server.sio.handlers["/"]["telemetry"]
    received = []

    def fails_after_four(sid, *args):
        received.append(sid)
        if len(received) > 4:
            raise RuntimeError("telemetry handler broke")  # socketio logs it; nothing is sent back
        return answer(sid, *args)

    server.sio.handlers["/"]["telemetry"] = fails_after_four
    server.start()
    port = server.port
    try:
        client = SimClient(oval_world(), ClientConfig(port=port, reply_timeout_s=1.5, pacing="fixed"))
        outcome = run_in_thread(client, seconds=30, max_steps=1000)
    finally:
        server.stop()
    assert outcome, "the client still waits after 30 s: pongs were taken for signs of life"
    error = outcome.get("error")
    assert isinstance(error, SimClientError), outcome
    message = str(error)
    assert message.startswith(f"drive server at ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket "
                              "answered no telemetry for 1.5 s; last sent: telemetry #"), message
    sent = re.search(r'last sent: telemetry #(\d+) 42\["telemetry",\{"steering_angle":"-?\d+\.\d{4}",'
                     r'"throttle":"-?\d+\.\d{4}","speed":"\d+\.\d{4}","image":<([\d,]+) base64 chars>\}\]', message)
    assert sent, message
    assert int(sent.group(1)) == len(received) > 4, "the last telemetry sent is the last one the server got"
    assert int(sent.group(2).replace(",", "")) > 1000, "a real JPEG frame"
    pongs = re.search(r"(\d+) other messages received meanwhile \((\d+) pongs in all\)", message)
    assert pongs and int(pongs.group(1)) >= 3 and int(pongs.group(2)) >= 3, message


def test_slow_replies_within_the_timeout_are_life_even_when_the_drive_outlasts_it():
    server = DriveServer(ConstantModel(seconds=0.3), DriveConfig(transport=TransportConfig(port=0), stats_every=0))
    server.start()
    try:
        client = SimClient(oval_world(), ClientConfig(port=server.port, reply_timeout_s=1.0, double_open=False))
        outcome = run_in_thread(client, seconds=60, max_steps=8)  # about 8 x 0.3 s, over twice the timeout
    finally:
        server.stop()
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert result.stop_reason == "max_steps" and len(result.steps) == 8
