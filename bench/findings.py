"""What the numbers of one run say about the code: computed findings for docs/benchmarks.md.

Each finding is derived from the results (which runtime wins, by how much, what the default
costs), so the page stays true when the code or the machine changes.
"""
from __future__ import annotations

from typing import Any

from bench.latency import DEFAULT, EAGER, NAIVE


def _median(variants: dict[str, Any], name: str, part: str = "total") -> float:
    return variants[name][part]["median_ms"]


def latency_findings(lat: dict[str, Any]) -> list[str]:
    out = []
    for model, data in lat["models"].items():
        v = data["variants"]
        options = [n for n in v if n not in (NAIVE, "eager channels_last")]  # what drive.py can run
        fastest = min(options, key=lambda n: _median(v, n))
        runtime = v[DEFAULT].get("note", "")
        if fastest != DEFAULT:
            out.append(
                f"- {model}: drive.py's default ({runtime}) takes {_median(v, DEFAULT):.1f} ms per frame; "
                f"`{fastest}` takes {_median(v, fastest):.1f} ms ({_median(v, DEFAULT) / _median(v, fastest):.2f}x "
                f"faster, max |Δ steering| {v[fastest]['max_abs_diff_vs_fp32']:.1e})."
            )
        else:
            out.append(
                f"- {model}: drive.py's default ({runtime}) is the fastest runtime measured: "
                f"{_median(v, DEFAULT):.1f} ms per frame, {_median(v, EAGER) / _median(v, DEFAULT):.2f}x eager fp32."
            )
        if "eager channels_last" in v:
            ratio = _median(v, EAGER, "infer") / _median(v, "eager channels_last", "infer")
            out.append(f"- {model}: eager channels_last runs inference at {ratio:.2f}x the speed of contiguous "
                       f"eager fp32 on this CPU.")
        pre = _median(v, DEFAULT, "decode") + _median(v, DEFAULT, "preprocess")
        out.append(f"- {model}: decode + preprocess take {pre:.2f} ms of the {_median(v, DEFAULT):.1f} ms default "
                   f"pipeline ({100 * pre / _median(v, DEFAULT):.0f}%).")
    return out


def preprocess_findings(lat: dict[str, Any]) -> list[str]:
    pre = lat.get("preprocess")
    if not pre:
        return []
    v = pre["variants"]
    multi = next(n for n in v if n.startswith("preprocess_frame") and "1 torch thread" not in n)
    one = v["preprocess_frame, 1 torch thread"]
    return [f"- preprocessing: `{multi}` takes {v[multi]['median_ms']:.2f} ms p50 / {v[multi]['p99_ms']:.2f} ms p99; "
            f"with 1 torch thread {one['median_ms']:.2f} / {one['p99_ms']:.2f} ms (the normalisation is numpy, so "
            f"torch's thread count should not matter)."]


def loop_findings(sim: dict[str, Any], lat: dict[str, Any] | None) -> list[str]:
    out = []
    for loop in sim["loops"]:
        period = 1000.0 / loop["frames_per_s"] if loop["frames_per_s"] else float("inf")
        total = loop["server_latency_ms"].get("total", {}).get("p50")
        infer = loop["server_latency_ms"].get("infer", {}).get("p50")
        if not (total and infer):
            continue
        if total > 1.5 * period:
            # Lock step with one chain cannot answer a frame later than one step period: more chains are alive.
            out.append(
                f"- closed loop {loop['model']} ({loop['backend']}): the server answers each frame "
                f"{total:.1f} ms after it arrived (p50) while the car gets a reply every {period:.1f} ms and "
                f"inference takes {infer:.1f} ms: about {total / period:.1f} request chains stay alive "
                f"({loop['telemetry_sent']} telemetry for {loop['steps']} steps, {loop['superseded']} superseded). "
                "Each frame waits for another chain's inference before its own starts, so every command "
                "steers on a frame about two inferences old (steering/server.py `_handle_telemetry`: a frame "
                "is dropped only if a newer one arrives while it *waits*; the simulator's double open leaves "
                "a second chain whose frames always arrive while the other is *inferring*)."
            )
        else:
            out.append(f"- closed loop {loop['model']} ({loop['backend']}): {loop['frames_per_s']:.1f} frames/s = "
                       f"{period:.1f} ms per step; the server's handling is {total:.1f} ms of it (p50), the rest is "
                       "the client's render, JPEG encode, base64 and the socket round trip in the same process.")
    return out


def training_findings(tr: dict[str, Any]) -> list[str]:
    v = tr["variants"]
    out = []
    for kind in ("frozen, features recomputed", "full fine-tune"):
        fp32, bf16 = v.get(f"{kind} (fp32)"), v.get(f"{kind} (bf16)")
        if fp32 and bf16:
            ratio = bf16["images_per_s"] / fp32["images_per_s"]
            out.append(f"- {kind}: `--amp` (bf16 autocast) runs at {ratio:.2f}x the fp32 rate on this CPU.")
    return out


def data_findings(data: dict[str, Any]) -> list[str]:
    out = []
    loaders = data["loaders"]
    for augmented in (True, False):
        rows = {v["workers"]: v for v in loaders.values() if v["augmented"] == augmented}
        if 0 in rows and 2 in rows:
            out.append(f"- loader ({'augmented' if augmented else 'decode only'}): 2 workers give "
                       f"{rows[2]['images_per_s'] / rows[0]['images_per_s']:.2f}x the 0-worker rate "
                       f"(start-up {rows[2]['startup_s']:.1f} s once per run, workers are persistent).")
    for name, rate in data["consumers"].items():
        zero = next((v for v in loaders.values() if v["augmented"] and v["workers"] == 0), None)
        if zero and zero["images_per_s"] < 1.5 * rate:
            out.append(f"- {name} consumes {rate:.0f} images/s, more than 1/1.5 of the 0-worker augmented loader "
                       f"({zero['images_per_s']:.0f} images/s): with train.py's default `--workers 0` the data path "
                       "is the bottleneck for this model.")
    return out


def findings(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if "latency" in results:
        out += latency_findings(results["latency"])
        out += preprocess_findings(results["latency"])
    if "simulator" in results:
        out += loop_findings(results["simulator"], results.get("latency"))
    if "training" in results:
        out += training_findings(results["training"])
    if "data" in results:
        out += data_findings(results["data"])
    return out
