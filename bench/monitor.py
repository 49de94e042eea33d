"""What the browser monitor costs the car: wire latency with and without `drive.py --monitor`'s page open.

    python -m bench.monitor                       # 12 blocks of 100 real frames per variant, PilotNet
    python -m bench.monitor --model resnet50 --page poller --rounds 3 --json out.json

Two `drive.py` processes serve the same checkpoint: one plain, one with `--monitor`. A raw
WebSocket client identical to the Unity simulator (tests/drive_wire.py: no Socket.IO library,
`42["telemetry",...]`, lock step: the next frame goes out when the reply arrived) drives the real
recorded frames of ../shared/data/udacity-real/self-recorded-windows-paths/IMG through the wire,
and times send -> `steer` received for every frame. Three variants, interleaved in blocks
(round-robin, each variant taking each place in the round in turn, so load from elsewhere and
whatever a block leaves behind hit each alike):

- `no monitor`: drive.py without --monitor;
- `monitor, no page`: drive.py --monitor, nobody looking (the sink alone);
- `monitor, page open`: the same server while its page is open in headless Chromium (selenium +
  Debian's chromium-driver; between blocks the browser shows about:blank), or, with
  `--page poller` or without Chromium, a client that polls the page's endpoints at the page's
  rates (state every 200 ms, frames long-polled at up to 15/s).

Reported: p50/p99/mean wire latency per variant, the drive process's CPU time per frame (all its
threads, /proc; much steadier than latency on a loaded machine), the cost of `MonitorSink.put`,
the p50 ratio against `no monitor` over all frames and as the median of per-round ratios (goal:
within 5 %), the frames per second the page actually received, the machine, its CPU model and
the load average at start and end (on a shared machine a load above the core count makes every
figure noisy: run it again).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.benchmark import Benchmark, to_jsonable
from bench.machine import Machine, cpu_line, machine
from steering.checkpoint import save_checkpoint
from steering.drive.monitor import MonitorSink
from steering.drive.sinks import DriveFrame
from steering.model import ModelConfig, create_model, default_preprocess

if TYPE_CHECKING:
    from drive_wire import SimulatorSocket

REPO = Path(__file__).resolve().parents[1]

NO_MONITOR, MONITOR_IDLE, MONITOR_PAGE = "no monitor", "monitor, no page", "monitor, page open"
GOAL_RATIO = 1.05
SETTLE_S = 1.0  # pause before each block (the page variant spends it loading the page)


@dataclass
class MonitorConfig:
    model: str = "pilotnet"  # registered model, randomly initialised
    frames: int = 100  # real frames per block (up to 250 are recorded)
    rounds: int = 12  # blocks per variant, interleaved
    page: str = "auto"  # who looks at the page: auto (Chromium when installed), chromium, poller
    extra: list[str] = field(default_factory=list)  # extra drive.py flags


@dataclass
class MonitorVariant:
    n: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    p50_vs_no_monitor: float
    paired_ratio_median: float  # median over rounds of (block p50 / that round's no-monitor block p50)
    server_cpu_ms_per_frame: float


@dataclass
class MonitorResult:
    machine: Machine
    model: str
    runtime: str
    page: str
    frames_per_block: int
    rounds: int
    variants: dict[str, MonitorVariant]
    page_frames_per_s: float
    loadavg: list[float]  # start, end
    put_ns: float  # MonitorSink.put on the control path


def _checkpoint(model: str, folder: Path) -> Path:
    import torch

    torch.manual_seed(0)
    return save_checkpoint(folder / f"{model}.pt", create_model(model).eval(), ModelConfig(name=model),
                           default_preprocess(model))


class DriveProcess:
    """drive.py on free ports; `port` for the simulator, `monitor_url` when --monitor."""

    def __init__(self, checkpoint: Path, monitor: bool, extra: list[str]) -> None:
        command = [sys.executable, "-W", "ignore", str(REPO / "drive.py"), str(checkpoint), "--port", "0",
                   "--stats-every", "0", *extra]
        if monitor:
            command += ["--monitor", "--monitor-port", "0"]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
        self.monitor_url = ""
        lines = []
        for line in self.proc.stdout:
            lines.append(line)
            if line.startswith("monitor: "):
                self.monitor_url = line.split()[1]
            if line.startswith("listening on"):
                self.port = int(re.search(r":(\d+)/socket\.io", line).group(1))
                break
        else:
            raise RuntimeError("drive.py did not start:\n" + "".join(lines))
        self.describe = next((line[len("model: "):].strip() for line in lines if line.startswith("model: ")), "")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class ChromiumPage:
    """The monitor page in headless Chromium; `open()` / `close()` switch it to the page / about:blank."""

    name = "headless Chromium"

    def __init__(self, url: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1120,880"):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        self.url = url

    def open(self) -> None:
        self.driver.get(self.url)
        time.sleep(SETTLE_S)  # first state and frame requests under way

    def frames_seen(self) -> int:
        return int(self.driver.find_element("id", "camera").get_attribute("data-shown") or 0)

    def close(self) -> None:
        self.driver.get("about:blank")

    def quit(self) -> None:
        self.driver.quit()


class PollerPage:
    """A thread that asks what the page asks, at the page's rates."""

    name = "endpoint poller (page's rates)"

    def __init__(self, url: str, max_fps: float = 15.0) -> None:
        self.url, self.period_s = url, 1.0 / max_fps
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.frames = 0

    def _state_loop(self) -> None:
        since = 0
        while not self._stop.is_set():
            state = json.load(urllib.request.urlopen(f"{self.url}api/state?since={since}", timeout=10))
            since = state["samples"][-1][0] if state["samples"] else since
            self._stop.wait(0.2)

    def _frame_loop(self) -> None:
        seq = 0
        while not self._stop.is_set():
            started = time.monotonic()
            response = urllib.request.urlopen(f"{self.url}frame.jpg?after={seq}", timeout=10)
            if response.status == 200:
                response.read()
                seq = int(response.headers["X-Frame-Seq"])
                self.frames += 1
            self._stop.wait(max(0.0, self.period_s - (time.monotonic() - started)))

    def open(self) -> None:
        self._stop.clear()
        self._threads = [threading.Thread(target=fn, daemon=True) for fn in (self._state_loop, self._frame_loop)]
        for thread in self._threads:
            thread.start()

    def frames_seen(self) -> int:
        return self.frames

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)

    def quit(self) -> None:
        self.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def put_cost_ns(calls: int = 200_000) -> float:
    """Nanoseconds per `MonitorSink.put` (all the control path pays for the monitor), median of 5 runs."""
    import datetime as dt

    frame = DriveFrame("x" * 40_000, dt.datetime.now(), 0.1, 0.2, 10.0)
    runs = []
    for _ in range(5):
        sink = MonitorSink()
        start = time.perf_counter()
        for _ in range(calls):
            sink.put(frame)
        runs.append((time.perf_counter() - start) / calls * 1e9)
    return float(np.median(runs))


def drive_block(sim: SimulatorSocket, payloads: list[dict]) -> list[float]:
    """Lock step, like the simulator: send a frame, wait for its `steer`; seconds per round trip."""
    sim.ping()  # as the simulator does every few seconds: a silent client is dropped after the ping timeout
    times = []
    for payload in payloads:
        start = time.perf_counter()
        sim.send_telemetry(payload)
        name, _ = sim.recv_event()
        times.append(time.perf_counter() - start)
        if name != "steer":
            raise RuntimeError(f"expected steer, got {name}")
    return times


def run(config: MonitorConfig | None = None) -> MonitorResult:
    config = config or MonitorConfig()
    model, frames, rounds, page, extra = config.model, config.frames, config.rounds, config.page, config.extra
    # The Unity-identical raw client the tests use (tests/drive_wire.py), not part of the package.
    if str(REPO / "tests") not in sys.path:
        sys.path.insert(0, str(REPO / "tests"))
    from drive_wire import SimulatorSocket, real_center_frames, telemetry

    payloads = [telemetry(jpeg, speed=10.0) for jpeg in real_center_frames(frames)]
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = _checkpoint(model, Path(folder))
        plain = DriveProcess(checkpoint, monitor=False, extra=extra or [])
        watched = DriveProcess(checkpoint, monitor=True, extra=extra or [])
        chromium = shutil.which("chromium") and shutil.which("chromedriver")
        viewer = ChromiumPage(watched.monitor_url) if page == "chromium" or (page == "auto" and chromium) \
            else PollerPage(watched.monitor_url)
        sims = {NO_MONITOR: SimulatorSocket(plain.port), MONITOR_IDLE: SimulatorSocket(watched.port)}
        sims[MONITOR_PAGE] = sims[MONITOR_IDLE]
        times: dict[str, list[float]] = {name: [] for name in (NO_MONITOR, MONITOR_IDLE, MONITOR_PAGE)}
        block_p50: dict[str, list[float]] = {name: [] for name in times}  # per round, for paired ratios
        cpu: dict[str, list[float]] = {name: [] for name in times}  # server CPU seconds per block
        pids = {NO_MONITOR: plain.proc.pid, MONITOR_IDLE: watched.proc.pid, MONITOR_PAGE: watched.proc.pid}
        shown: list[float] = []
        try:
            for sim in (sims[NO_MONITOR], sims[MONITOR_IDLE]):
                sim.recv_event()  # the connect steer
                drive_block(sim, payloads[:20])  # warm-up
            names = list(times)
            for round_index in range(rounds):
                # Each variant takes each place in the round in turn: whatever the previous block left
                # behind (a page just closed, a burst from elsewhere) falls on all of them alike.
                shift = round_index % len(names)
                for name in names[shift:] + names[:shift]:
                    if name == MONITOR_PAGE:
                        viewer.open()  # includes a settling second
                        before, started = viewer.frames_seen(), time.monotonic()
                    else:
                        time.sleep(SETTLE_S)
                    cpu_start = cpu_seconds(pids[name])
                    block = drive_block(sims[name], payloads)
                    cpu[name].append(cpu_seconds(pids[name]) - cpu_start)
                    times[name] += block
                    block_p50[name].append(float(np.median(block)))
                    if name == MONITOR_PAGE:
                        shown.append((viewer.frames_seen() - before) / (time.monotonic() - started))
                        viewer.close()
        finally:
            viewer.quit()
            for sim in set(sims.values()):
                sim.close()
            plain.close()
            watched.close()
    summary = {name: _stats(values) for name, values in times.items()}
    base = summary[NO_MONITOR]["p50_ms"]
    variants = {}
    for name, values in summary.items():
        variants[name] = MonitorVariant(
            **values, p50_vs_no_monitor=values["p50_ms"] / base,
            # The same ratio taken within each round, then the median over rounds: robust to load that
            # drifts over minutes (this machine is shared), since each round's blocks run back to back.
            paired_ratio_median=float(np.median(np.divide(block_p50[name], block_p50[NO_MONITOR]))),
            # CPU time hardly depends on how busy the machine is, latency does: the steadier measure of cost.
            server_cpu_ms_per_frame=float(np.sum(cpu[name]) / values["n"] * 1000.0))
    load_end = os.getloadavg()[0]
    return MonitorResult(machine=machine(), model=model, runtime=plain.describe, page=viewer.name,
                         frames_per_block=frames, rounds=rounds, variants=variants,
                         page_frames_per_s=float(np.median(shown)) if shown else 0.0,
                         loadavg=[load_start, load_end], put_ns=put_cost_ns())


def _stats(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {"n": int(ms.size), "p50_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean())}


def quick_config() -> MonitorConfig:
    return MonitorConfig(frames=3, rounds=1, page="poller")


def section(result: MonitorResult) -> str:
    m = result.machine
    lines = [f"machine: {cpu_line(m)}, {m.cores} cores, {m.date}; model {result.model} ({result.runtime})",
             f"page: {result.page}; {result.rounds} rounds x {result.frames_per_block} real frames per variant, "
             "lock step over the wire",
             f"load average {result.loadavg[0]:.1f} at start, {result.loadavg[1]:.1f} at end ({m.cores} cores)", "",
             "| variant | frames | p50 ms | p99 ms | mean ms | p50 vs none | per-round | server CPU ms/frame |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {name} | {v.n} | {v.p50_ms:.2f} | {v.p99_ms:.2f} | {v.mean_ms:.2f} | {v.p50_vs_no_monitor:.3f}x "
              f"| {v.paired_ratio_median:.3f}x | {v.server_cpu_ms_per_frame:.2f} |"
              for name, v in result.variants.items()]
    lines += ["", "per-round: median over rounds of (block p50 / that round's no-monitor block p50)",
              f"MonitorSink.put on the control path: {result.put_ns:.0f} ns per frame"]
    return "\n".join(lines)


def findings(result: MonitorResult) -> list[str]:
    ratio = result.variants[MONITOR_PAGE].paired_ratio_median
    verdict = "within" if ratio <= GOAL_RATIO else "OUTSIDE"
    return [f"- page received {result.page_frames_per_s:.1f} frames/s; page open p50 (per round) is {verdict} "
            f"the {(GOAL_RATIO - 1) * 100:.0f} % goal ({(ratio - 1) * 100:+.1f} %)"]


BENCHMARK = Benchmark(
    name="monitor", help="what the browser monitor costs the car: wire latency with and without its page open",
    config=MonitorConfig, quick=quick_config, run=run, result=MonitorResult, section=section, findings=findings,
    doc="printed, quoted in docs/drive.md", own_process=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pilotnet", help="registered model, randomly initialised")
    parser.add_argument("--frames", type=int, default=100, help="real frames per block (up to 250 are recorded)")
    parser.add_argument("--rounds", type=int, default=12, help="blocks per variant, interleaved")
    parser.add_argument("--page", choices=("auto", "chromium", "poller"), default="auto",
                        help="who looks at the page; auto: Chromium when installed, else the poller")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("drive_args", nargs=argparse.REMAINDER,
                        help="after --: extra drive.py flags (e.g. --backend torch)")
    args = parser.parse_args(argv)
    extra = [a for a in args.drive_args if a != "--"]
    result = run(MonitorConfig(model=args.model, frames=args.frames, rounds=args.rounds, page=args.page, extra=extra))
    print(section(result))
    print("\n".join(findings(result)))
    if args.json:
        args.json.write_text(json.dumps(to_jsonable(result), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
