"""Who may talk to drive.py's servers: the Host/Origin/Content-Type rules, then each attack through real sockets.

The attacks: a cross-site "simple" POST that would pause the recording, DNS rebinding (a foreign
Host) reading the monitor's state and camera, and a foreign page opening the drive server's
WebSocket. The Unity-identical client (no Origin) and the headless simulator must still connect.
"""
from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import time
from pathlib import Path

import pytest
import websocket
from drive_wire import SimulatorSocket, real_center_frames, steer_values, telemetry

from steering.drive import DriveConfig, TransportConfig, running_server
from steering.drive.http_guard import Address, refusal, split_host
from steering.drive.monitor import Monitor, MonitorConfig
from steering.drive.sinks import DriveFrame
from steering.sim.client import ClientConfig, SimClient
from steering.sim.world import World, WorldConfig

LOCAL = Address("127.0.0.1", 8887, hostnames=frozenset({"carbox", "carbox.local"}))
WILDCARD = Address("0.0.0.0", 8887, hostnames=frozenset({"carbox", "carbox.local"}))
JSON = "application/json"


@pytest.mark.parametrize("host, expected", [
    ("127.0.0.1:8887", True), ("localhost:8887", True), ("LOCALHOST:8887", True), ("[::1]:8887", True),
    ("127.0.0.1:8888", False),  # another port: another server
    ("127.0.0.1", False),  # no port means 80
    ("evil.example:8887", False), ("192.168.1.5:8887", False), ("carbox:8887", False),
    ("127.0.0.1:8887:1", False), ("127.0.0.1:88a7", False), ("[::1:8887", False), ("", False),
])
def test_host_must_name_the_loopback_address_and_port(host, expected):
    assert LOCAL.names_me(host) is expected


@pytest.mark.parametrize("host, expected", [
    ("192.168.1.5:8887", True), ("10.0.0.7:8887", True), ("carbox:8887", True), ("carbox.local:8887", True),
    ("localhost:8887", True), ("[fe80::1]:8887", True),
    ("evil.example:8887", False), ("carbox.evil.example:8887", False), ("192.168.1.5:80", False),
])
def test_wildcard_bind_accepts_ip_literals_and_own_hostname_but_no_other_domain(host, expected):
    assert WILDCARD.names_me(host) is expected


def test_a_bound_lan_address_is_accepted_by_its_ip():
    lan = Address("192.168.1.5", 4567, hostnames=frozenset())
    assert lan.names_me("192.168.1.5:4567") and lan.names_me("127.0.0.1:4567")
    assert not lan.names_me("192.168.1.6:4567")


def test_split_host_reads_names_ports_and_ipv6():
    assert split_host("Example.COM:8080") == ("example.com", 8080)
    assert split_host("example.com") == ("example.com", 80)
    assert split_host("[::1]:4567") == ("::1", 4567)
    assert split_host("[::1]") == ("::1", 80)
    assert split_host(":8887") is None and split_host("a:123456") is None


def headers(host: str = "127.0.0.1:8887", origin: str | None = None, content_type: str = "") -> dict[str, str]:
    out = {"host": host, "content-type": content_type}
    if origin is not None:
        out["origin"] = origin
    return out


def test_post_needs_json_and_same_origin_or_no_origin():
    assert refusal("POST", headers(origin="http://127.0.0.1:8887", content_type=JSON), LOCAL) is None
    assert refusal("POST", headers(content_type="application/json; charset=utf-8"), LOCAL) is None  # curl, urllib
    assert "Content-Type: application/json" in refusal("POST", headers(content_type="text/plain"), LOCAL)
    assert "got 'none'" in refusal("POST", headers(), LOCAL)
    for origin in ("http://evil.example", "null", "http://localhost:8887", "https://127.0.0.1:8887"):
        reason = refusal("POST", headers(origin=origin, content_type=JSON), LOCAL)
        assert reason.startswith(f"cross-origin request from {origin!r}"), reason
    # A GET may come from the page (no Origin, or its own) but not from another one.
    assert refusal("GET", headers(), LOCAL) is None
    assert refusal("GET", headers(origin="http://127.0.0.1:8887"), LOCAL) is None
    assert refusal("GET", headers(origin="http://evil.example"), LOCAL) is not None


def test_foreign_or_missing_host_is_refused_before_anything_else():
    reason = refusal("GET", headers(host="evil.example:8887"), LOCAL)
    assert reason.startswith("Host 'evil.example:8887' does not name this server") and "\n" not in reason
    assert reason.endswith("listens on 127.0.0.1:8887")
    assert refusal("GET", headers(host=""), LOCAL) == "no Host header"


def test_json_only_false_lets_a_protocol_post_other_types_but_keeps_host_and_origin():
    assert refusal("POST", headers(content_type="text/plain"), LOCAL, json_only=False) is None
    assert refusal("POST", headers(origin="http://evil.example"), LOCAL, json_only=False) is not None
    assert refusal("POST", headers(host="evil.example:8887"), LOCAL, json_only=False) is not None


# ---------------------------------------------------------------------------------------------- monitor


class _Recorder:
    def __init__(self, folder: Path) -> None:
        self.folder, self.paused, self.written, self.dropped = folder, False, 3, 0


class _Model:
    def describe(self) -> str:
        return "pilotnet (backend torch)"


class _Drive:
    """The little of a DriveServer the monitor reads."""

    def __init__(self, folder: Path) -> None:
        self.model, self.recorder = _Model(), _Recorder(folder)

    @property
    def stats(self) -> dict:
        return {"connections": 1, "counters": {"steer": 1}}


@pytest.fixture()
def monitor(tmp_path):
    """A monitor on a free loopback port, holding one real camera frame, recording on."""
    monitor = Monitor(MonitorConfig(enabled=True, port=0, stats_s=0.0))
    drive = _Drive(tmp_path / "run1")
    jpeg = real_center_frames(1)[0]
    monitor.sink.put(DriveFrame(base64.b64encode(jpeg).decode("ascii"), dt.datetime.now(), 0.25, 0.3, 9.0))
    monitor.start(drive)
    try:
        yield monitor, drive, jpeg
    finally:
        monitor.stop()


def request(port: int, method: str, path: str, body: bytes | None = None, **header_values: str):
    """One raw HTTP request with exactly these headers (Host included): (status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in header_values.items():
            connection.putheader(name.replace("_", "-"), value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_cross_site_simple_post_cannot_pause_the_recording(monitor):
    monitor, drive, _ = monitor
    own = f"127.0.0.1:{monitor.port}"
    # What any web page can send without a preflight: text/plain, its own Origin.
    status, body = request(monitor.port, "POST", "/api/record", b'{"on":false}', Host=own,
                           Origin="http://evil.example", Content_Type="text/plain")
    assert status == 403 and drive.recorder.paused is False
    assert body.decode().startswith("cross-origin request from 'http://evil.example' refused")
    assert body.count(b"\n") == 1, "one line"
    # Nor with JSON from that page (a browser would preflight it; the monitor answers no preflight).
    status, _ = request(monitor.port, "POST", "/api/record", b'{"on":false}', Host=own,
                        Origin="http://evil.example", Content_Type=JSON)
    assert status == 403 and drive.recorder.paused is False
    # Nor text/plain with the Origin stripped (old browsers, privacy extensions).
    status, body = request(monitor.port, "POST", "/api/record", b'{"on":false}', Host=own, Content_Type="text/plain")
    assert status == 403 and b"application/json" in body and drive.recorder.paused is False
    # The monitor's own page: JSON, same origin. And a script or curl: JSON, no Origin.
    status, body = request(monitor.port, "POST", "/api/record", b'{"on":false}', Host=own,
                           Origin=f"http://{own}", Content_Type=JSON)
    assert status == 200 and json.loads(body)["recording"]["on"] is False and drive.recorder.paused is True
    status, body = request(monitor.port, "POST", "/api/record", b'{"on":true}', Host=own, Content_Type=JSON)
    assert status == 200 and drive.recorder.paused is False


def test_foreign_host_cannot_read_state_or_camera_frames(monitor):
    monitor, _, jpeg = monitor
    for path in ("/api/state", "/frame.jpg?after=0", "/", "/static/monitor.js"):
        status, body = request(monitor.port, "GET", path, Host=f"evil.example:{monitor.port}")
        assert status == 403, path
        assert body.decode().startswith(f"Host 'evil.example:{monitor.port}' does not name this server"), body
    # The same requests naming the monitor's own address are served.
    for host in (f"127.0.0.1:{monitor.port}", f"localhost:{monitor.port}"):
        status, body = request(monitor.port, "GET", "/api/state", Host=host)
        assert status == 200 and json.loads(body)["frames"] == 1
        status, body = request(monitor.port, "GET", "/frame.jpg?after=0", Host=host)
        assert status == 200 and body == jpeg


# ---------------------------------------------------------------------------------------------- drive server


@pytest.fixture()
def drive_server(make_checkpoint):
    with running_server(make_checkpoint("pilotnet"), DriveConfig(transport=TransportConfig(port=0),
                                                                 stats_every=0)) as server:
        yield server


def handshake_status(port: int, **options) -> int:
    """The HTTP status a WebSocket handshake to the drive server gets (101 when it opens)."""
    try:
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
                                         timeout=10, **options)
    except websocket.WebSocketBadStatusException as exc:
        return exc.status_code
    ws.close()
    return 101


def test_foreign_page_cannot_open_the_drive_servers_websocket(drive_server):
    port = drive_server.port
    assert handshake_status(port, origin="http://evil.example") == 403
    # DNS rebinding: Origin and Host both name the rebound domain, so engineio's own check
    # (Origin == Host) would let it in; the Host rule does not.
    assert handshake_status(port, origin=f"http://evil.example:{port}", host=f"evil.example:{port}") == 403
    assert handshake_status(port, suppress_origin=True, host=f"evil.example:{port}") == 403
    assert drive_server.stats["connections"] == 0
    # Same-origin and no-Origin handshakes open.
    assert handshake_status(port) == 101  # websocket-client's default Origin: http://127.0.0.1:PORT
    assert handshake_status(port, suppress_origin=True, host=f"localhost:{port}") == 101


def test_unity_identical_client_without_origin_still_drives(drive_server):
    jpeg = real_center_frames(1)[0]
    sim = SimulatorSocket(drive_server.port)  # no Origin header, like the Unity simulator
    try:
        assert sim.recv_event() == ("steer", {"steering_angle": "0", "throttle": "0"})
        sim.send_telemetry(telemetry(jpeg, speed=10.0))
        name, data = sim.recv_event()
        assert name == "steer" and -1.0 <= steer_values(data)[0] <= 1.0
    finally:
        sim.close()
    assert drive_server.stats["counters"]["steer"] == 1


def test_headless_simulator_still_drives(drive_server):
    world = World(WorldConfig(track="lake"))
    result = SimClient(world, ClientConfig(port=drive_server.port, double_open=False)).run(max_steps=5)
    assert len(result.steps) == 5 and result.steers_received >= 5, result


# ---------------------------------------------------------------------------------------------- in a browser

ATTACK_PAGE = """<!doctype html><title>evil</title><script>
// What any site can do without a preflight: a "simple" cross-origin POST, response unreadable (no-cors).
window.attack = fetch(MONITOR + "api/record", {method: "POST", mode: "no-cors",
    headers: {"Content-Type": "text/plain"}, body: '{"on":false}'}).then(() => "sent", e => "failed: " + e);
</script>"""


@pytest.fixture()
def attack_site():
    """A page on another port of this machine; GET /?monitor=URL serves ATTACK_PAGE aimed at that URL."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            target = parse_qs(urlparse(self.path).query)["monitor"][0]
            body = ATTACK_PAGE.replace("MONITOR", json.dumps(target)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_page_on_another_port_cannot_pause_the_recording_from_a_browser(monitor, browser, attack_site, caplog):
    monitor, drive, _ = monitor
    caplog.set_level("WARNING", logger="steering.drive.http_guard")
    browser.get(f"{attack_site}?monitor={monitor.url}")
    assert browser.execute_async_script("window.attack.then(arguments[0])") == "sent"
    assert drive.recorder.paused is False, "a page on another port paused the recording"
    # The browser did send it (a simple request needs no preflight): the monitor refused it.
    refused = [r.getMessage() for r in caplog.records if "refused POST /api/record" in r.getMessage()]
    assert refused == [f"monitor: refused POST /api/record: cross-origin request from "
                       f"'{attack_site.rstrip('/')}' refused; only pages this server serves may call it"]


@pytest.mark.slow
def test_rebound_domain_gets_403_and_the_monitors_own_page_still_switches_recording(monitor, browser):
    monitor, drive, _ = monitor
    # DNS rebinding: evil.example now resolves to 127.0.0.1 (the fixture's resolver rule), so its
    # pages are same-origin with whatever listens there; only the Host header tells them apart.
    browser.get(f"http://evil.example:{monitor.port}/")
    assert browser.find_element("tag name", "body").text.startswith(
        f"Host 'evil.example:{monitor.port}' does not name this server")
    answers = browser.execute_async_script("""
        const done = arguments[0];
        Promise.all(["/api/state", "/frame.jpg?after=0"].map(p => fetch(p).then(r => r.status))).then(done);""")
    assert answers == [403, 403]
    # The monitor's own page, opened as drive.py prints it, switches recording off and on.
    browser.get(monitor.url)
    toggle = browser.find_element("id", "record-toggle")
    deadline = time.monotonic() + 10
    while not toggle.is_enabled() and time.monotonic() < deadline:
        time.sleep(0.1)
    toggle.click()
    while drive.recorder.paused is not True and time.monotonic() < deadline:
        time.sleep(0.1)
    assert drive.recorder.paused is True, "the page's own JSON POST was refused"
    toggle.click()
    while drive.recorder.paused is not False and time.monotonic() < deadline:
        time.sleep(0.1)
    assert drive.recorder.paused is False
