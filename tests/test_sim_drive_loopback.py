"""drive.py's server and the headless simulator's client talk over a real loopback socket."""
from __future__ import annotations

import math

import pytest

from steering.drive import DriveConfig, TransportConfig, running_server
from steering.sim.client import ClientConfig, SimClient
from steering.sim.world import World, WorldConfig

STEPS = 300


@pytest.mark.slow
@pytest.mark.parametrize("decimal", [".", ","])
def test_drive_server_and_simulator_client_run_hundreds_of_lock_step_exchanges(make_checkpoint, decimal):
    checkpoint = make_checkpoint("pilotnet")
    world = World(WorldConfig(track="oval"))
    with running_server(checkpoint, DriveConfig(transport=TransportConfig(port=0), stats_every=0)) as server:
        result = SimClient(world, ClientConfig(port=server.port, decimal=decimal, double_open=True)).run(
            max_steps=STEPS
        )
        stats = server.stats

    assert result.stop_reason == "max_steps"
    assert len(result.steps) == STEPS
    assert result.opening_telemetry == 2, "the simulator's double open must reach the server"
    assert result.parse_errors == 0
    assert stats["errors"] == {}, stats["errors"]
    assert stats["counters"]["telemetry"] >= STEPS
    assert stats["counters"]["steer"] >= STEPS - 1  # the client also applied the server's steer on connect
    assert stats["max_newer_at_infer_start"] == 0, "the server steered on a stale frame"
    for command in result.commands[1:]:  # the first is the server's steer-on-connect "0"
        steering_text, throttle_text = command.raw
        assert (decimal in steering_text) and (decimal in throttle_text), f"reply {command.raw} ignores the locale"
        # Read in the reply's own style, the number must equal what the simulator applied: no misreading.
        assert command.steering == pytest.approx(max(-1.0, min(1.0, float(steering_text.replace(",", ".")))))
        assert command.throttle == pytest.approx(max(-1.0, min(1.0, float(throttle_text.replace(",", ".")))))
    assert all(math.isfinite(s.x) and math.isfinite(s.y) for s in result.steps)
    path_m = sum(math.hypot(b.x - a.x, b.y - a.y) for a, b in zip(result.steps, result.steps[1:], strict=False))
    assert path_m > 5.0, "the car must have moved under the server's throttle (an untrained model may circle)"
    assert result.steps[-1].time_s == pytest.approx(STEPS * world.config.dt)
