"""Drive the Udacity simulator (Autonomous Mode) with a trained model.

    python drive.py model.pt              # serve ws://127.0.0.1:4567, then start the simulator
    python drive.py model.pt run1         # also record frames + driving_log.csv into run1/

The logic lives in `steering.server` (protocol, control, recording); this file parses arguments,
sets up logging and runs the server until Ctrl-C, which prints latency and error counters.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from steering.checkpoint import CheckpointError
from steering.control import ControlConfig
from steering.inference import BACKENDS, DEVICES, PRECISIONS
from steering.server import DriveConfig, DriveServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="drive.py",
        description="Serve a trained steering model to the Udacity simulator (start the simulator in "
                    "Autonomous Mode after this prints 'listening').",
    )
    parser.add_argument("model", type=Path, help="checkpoint written by train.py (e.g. runs/x/best.pt)")
    parser.add_argument("record_dir", type=Path, nargs="?", default=None,
                        help="optional folder: save every received frame as IMG/center_*.jpg and a "
                             "driving_log.csv of the commands, in the simulator's own format")

    control = parser.add_argument_group("control")
    control.add_argument("--speed", type=float, default=ControlConfig.target_speed,
                         help="target speed in mph for the PI throttle controller (car top speed 30; "
                              "default %(default)s)")
    control.add_argument("--max-throttle", type=float, default=ControlConfig.max_throttle,
                         help="upper throttle limit in (0, 1] (default %(default)s)")
    control.add_argument("--turn-slowdown", type=float, default=ControlConfig.turn_slowdown,
                         help="slow down in sharp turns: target speed x (1 - k*|steering|), k in [0, 1) "
                              "(default %(default)s: off)")
    control.add_argument("--smooth", type=float, default=ControlConfig.smooth,
                         help="steering smoothing in [0, 1): weight of the previous command "
                              "(default %(default)s: off)")

    runtime = parser.add_argument_group("model runtime")
    runtime.add_argument("--device", choices=DEVICES, default="auto",
                         help="where the model runs; auto picks cuda when available (default %(default)s)")
    runtime.add_argument("--backend", choices=BACKENDS, default="auto",
                         help="auto (on CPU ONNX Runtime when installed, else torch; torch on CUDA), torch (eager), torchscript (traced + frozen), onnx (ONNX "
                              "Runtime, CPU, exported on the fly or read from model.onnx) or openvino (CPU, "
                              "converted on the fly; fastest measured, opt-in; pip install 'steering[openvino]') (default %(default)s)")
    runtime.add_argument("--precision", choices=PRECISIONS, default="auto",
                         help="auto: fp16 autocast on CUDA, fp32 on CPU, OpenVINO's own choice with openvino "
                              "(bf16 on CPUs with AVX512-BF16/AMX, checked against fp32 at start); bf16 (CPU: frozen "
                              "TorchScript with bf16 weights, or OpenVINO's bf16 with --backend openvino) (default %(default)s)")
    runtime.add_argument("--threads", type=int, default=0,
                         help="CPU threads for the model; 0 = all cores this process may use (default)")

    server = parser.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; 0.0.0.0 exposes the server to the network "
                             "(default %(default)s: this machine only)")
    server.add_argument("--port", type=int, default=4567, help="the simulator connects to 4567 (default)")
    server.add_argument("--stats-every", type=float, default=30.0,
                        help="seconds between latency/counter log lines; 0 = only at exit (default %(default)s)")
    server.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> DriveConfig:
    return DriveConfig(host=args.host, port=args.port, speed=args.speed, max_throttle=args.max_throttle,
                       turn_slowdown=args.turn_slowdown, smooth=args.smooth, device=args.device,
                       backend=args.backend, precision=args.precision, threads=args.threads,
                       record_dir=args.record_dir, stats_every=args.stats_every)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose:
        logging.getLogger("steering.server.wire").setLevel(logging.DEBUG)  # every Socket.IO packet
    from steering.inference import Predictor  # after logging: loading torch takes a moment

    try:
        config = config_from_args(args)
        predictor = Predictor(args.model, config.inference_config())
        server = DriveServer(predictor, config).start()
    except CheckpointError as exc:
        print(f"drive.py: cannot load the model: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"drive.py: {exc}", file=sys.stderr)
        return 2
    print(f"model: {predictor.describe()}", flush=True)
    print(f"listening on {server.url}; start the simulator in Autonomous Mode. Ctrl-C stops.", flush=True)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        print(f"\nstopped. {server.summary()}", flush=True)
        if server.recorder is not None:
            print(f"recorded {server.recorder.written} frames to {server.recorder.folder} "
                  f"({server.recorder.dropped} dropped)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
