"""Test helper: seeded malformed telemetry for the drive server, each event with the reply it must get.

`make_events(rng, frames, n)` returns `n` events. Each is a `FuzzEvent`: what to put on the wire
(text, or bytes for a binary WebSocket frame) and what must come back:
- "steer": a normal command (a good frame, one whose bit flips the decoder cannot notice, or
  finite but absurd numbers);
- "safe": throttle 0 and the last good steering, counted under `stats["errors"][reason]`;
- "manual": the `{}` answer;
- "none": nothing (a binary frame; not telemetry);
- "drop": the server closes this connection (a WebSocket frame over eventlet's 8 MiB limit).

Which image damage the decoder notices is not knowable in advance for random bit flips, so image
events take their expected reason from `steering.preprocess.decode_base64_jpeg(strict=True)`,
whose rules tests/test_preprocess_corrupt.py pins on hand-made cases.
"""
from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass

import cv2
import numpy as np
from drive_wire import telemetry

from steering.preprocess import CorruptJPEG, FrameError, decode_base64_jpeg, encode_jpeg

WS_FRAME_LIMIT = 8 << 20  # eventlet's default max_frame_length


@dataclass(frozen=True)
class FuzzEvent:
    kind: str  # the generator that made it
    wire: str | bytes
    expect: str  # steer, safe, manual, none, drop
    reason: str | None = None  # the error counter of a safe reply
    frame: int | None = None  # index of the clean frame it carries (same model output every time)


def event_text(payload) -> str:
    return "42" + json.dumps(["telemetry", payload])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def image_expectation(image: str) -> tuple[str, str | None]:
    try:
        decode_base64_jpeg(image, strict=True)
    except CorruptJPEG:
        return "safe", "corrupt_jpeg"
    except FrameError:
        return "safe", "bad_image"
    return "steer", None


class EventMaker:
    def __init__(self, rng: random.Random, frames: list[bytes]) -> None:
        self.rng, self.frames = rng, frames
        noise = np.random.default_rng(rng.randrange(1 << 30))
        ok, png = cv2.imencode(".png", noise.integers(0, 255, (160, 320, 3), dtype=np.uint8))
        assert ok
        self.odd_images = [png.tobytes()] + [encode_jpeg(np.full((h, w, 3), 120, np.uint8))
                                             for h, w in ((1, 1), (8, 8), (64, 64), (120, 320), (3000, 3000))]

    def good_payload(self, index: int) -> dict:
        return telemetry(self.frames[index], steering_angle=self.rng.uniform(-25, 25),
                         throttle=self.rng.uniform(-1, 1), speed=self.rng.uniform(0, 30))

    def with_image(self, kind: str, image: str) -> FuzzEvent:
        payload = {**self.good_payload(0), "image": image}
        expect, reason = image_expectation(image)
        return FuzzEvent(kind, event_text(payload), expect, reason)

    # ---- one method per kind
    def good(self) -> FuzzEvent:
        index = self.rng.randrange(len(self.frames))
        return FuzzEvent("good", event_text(self.good_payload(index)), "steer", frame=index)

    def bitflip(self) -> FuzzEvent:
        data = bytearray(self.rng.choice(self.frames))
        for _ in range(self.rng.randint(1, 8)):
            data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
        return self.with_image("bitflip", b64(bytes(data)))

    def truncated_jpeg(self) -> FuzzEvent:
        jpeg = self.rng.choice(self.frames)
        return self.with_image("truncated_jpeg", b64(jpeg[: self.rng.randrange(1, len(jpeg) - 1)]))

    def junk_jpeg(self) -> FuzzEvent:
        junk = b"\xff\xd8\xff" + self.rng.randbytes(self.rng.randrange(0, 30_000))
        return self.with_image("junk_jpeg", b64(junk))

    def odd_image(self) -> FuzzEvent:  # a PNG, tiny or huge-but-small JPEGs
        return self.with_image("odd_image", b64(self.rng.choice(self.odd_images)))

    def truncated_base64(self) -> FuzzEvent:
        text = b64(self.rng.choice(self.frames))
        return self.with_image("truncated_base64", text[: self.rng.randrange(1, len(text) - 1)])

    def non_base64(self) -> FuzzEvent:
        alphabet = "!@#$%^&*()<>?~`é漢\u00a0\t -_.,;:'\"\\"
        text = "".join(self.rng.choice(alphabet) for _ in range(self.rng.randrange(1, 3000)))
        return self.with_image("non_base64", text)

    def oversized(self) -> FuzzEvent:
        image = "A" * self.rng.randrange(1_000_001, 2_000_000)
        return FuzzEvent("oversized", event_text({**self.good_payload(0), "image": image}), "safe", "oversized_image")

    def missing_field(self) -> FuzzEvent:
        payload = self.good_payload(0)
        for name in self.rng.sample(sorted(payload), self.rng.randint(1, 4)):
            del payload[name]
        if not payload or self.rng.random() < 0.3:
            payload["steering"] = "0.1"  # a stray key: a non-empty dict, so not manual mode
        return FuzzEvent("missing_field", event_text(payload), "safe", "missing_field")

    BAD_NUMBERS = ("NaN", "nan", "Infinity", "-inf", "1e400", "-1e999", "9" * 80, "fast", "", " ", "1,2.3,4",
                   "0x1A", "1e", "--1", "\u00bd", "1.2,3.4", float("nan"), float("inf"), -float("inf"), True, False,
                   None, [], {}, [1.5], {"value": 1})

    def bad_number(self) -> FuzzEvent:
        payload = self.good_payload(0)
        payload[self.rng.choice(("steering_angle", "throttle", "speed"))] = self.rng.choice(self.BAD_NUMBERS)
        return FuzzEvent("bad_number", event_text(payload), "safe", "bad_number")

    def absurd_number(self) -> FuzzEvent:  # well-formed and finite, far outside anything the car reports
        payload = self.good_payload(self.rng.randrange(len(self.frames)))
        name, value = self.rng.choice((("speed", "1e300"), ("speed", "123456789,5"), ("speed", 1e300),
                                       ("speed", "9" * 60), ("speed", -1e300), ("speed", "-500"),
                                       ("steering_angle", 1e6), ("throttle", "-7")))
        payload[name] = value
        return FuzzEvent("absurd_number", event_text(payload), "safe", "out_of_range")

    def bad_image_field(self) -> FuzzEvent:
        payload = {**self.good_payload(0), "image": self.rng.choice((12345, None, [], {}, True, "", 1.5, ["abc"]))}
        return FuzzEvent("bad_image_field", event_text(payload), "safe", "bad_image_field")

    def not_a_dict(self) -> FuzzEvent:
        choices = [event_text(v) for v in ("a string", [1, 2, 3], None, 7, 2.5, True, [{}])]
        choices += ['42["telemetry"]', '42["telemetry",{},{}]', '42["telemetry",1,2]']
        return FuzzEvent("not_a_dict", self.rng.choice(choices), "safe", "not_a_dict")

    def bad_json(self) -> FuzzEvent:
        text = event_text(self.good_payload(0))
        cut = self.rng.randrange(len('42["telemetry"'), len(text) - 1)  # a JSON array never closes early
        return FuzzEvent("bad_json", text[:cut], "safe", "bad_json")

    def manual(self) -> FuzzEvent:
        return FuzzEvent("manual", event_text({}), "manual")

    def binary(self) -> FuzzEvent:
        # Engine.IO reads the first byte as the packet type: skip close, ping and message (1, 2, 4 as
        # raw bytes or digits, and 'b'), which end the connection or would be telemetry.
        first = self.rng.choice([b for b in range(256) if b not in (1, 2, 4, 49, 50, 52, 98)])
        return FuzzEvent("binary", bytes([first]) + self.rng.randbytes(self.rng.randrange(0, 4096)), "none")

    def over_frame_limit(self) -> FuzzEvent:
        payload = {**self.good_payload(0), "image": "A" * (WS_FRAME_LIMIT + self.rng.randrange(1, 1 << 20))}
        return FuzzEvent("over_frame_limit", event_text(payload), "drop")


# kind -> weight; 30 % good frames, the rest spread over every kind of damage
WEIGHTS = {
    "good": 30, "bitflip": 12, "truncated_jpeg": 6, "junk_jpeg": 4, "odd_image": 4, "truncated_base64": 5,
    "non_base64": 4, "oversized": 0.5, "missing_field": 5, "bad_number": 8, "absurd_number": 3,
    "bad_image_field": 4, "not_a_dict": 4, "bad_json": 5, "manual": 1.5, "binary": 3,
}


def make_events(rng: random.Random, frames: list[bytes], n: int, over_limit: int = 2) -> list[FuzzEvent]:
    """`n` events: `over_limit` frames over the WebSocket limit at random places, the rest by WEIGHTS."""
    maker = EventMaker(rng, frames)
    kinds = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()), k=n - over_limit)
    events = [getattr(maker, kind)() for kind in kinds]
    for _ in range(over_limit):
        events.insert(rng.randrange(1, len(events)), maker.over_frame_limit())
    return events


def engineio_garbage(rng: random.Random) -> str | bytes:
    """One packet of raw Engine.IO/Socket.IO garbage: any type, any namespace, any bytes."""
    choices = ["", "0", "1", "2", "3", "4", "40", "40/x", "41", "42", "42[", "42{}", "42[5]", '42["foo",1]',
               '42/x,["telemetry",{}]', "43", "44", '451-["telemetry",{"_placeholder":true,"num":0}]', "5", "6",
               "9zzz", "b4AAAA", '2probe', "4" + "x" * 100_000]
    roll = rng.random()
    if roll < 0.5:
        return rng.choice(choices)
    if roll < 0.75:
        return rng.randbytes(rng.randrange(0, 2048))
    return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(1, 200)))
