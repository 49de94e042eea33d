"""bench/alarm_wire.py's table and the exit-summary events it reads (no servers started here)."""
from __future__ import annotations

from bench import alarm_wire, drive_summary, wire
from bench.timing import Stats

SUMMARY = ("stopped by SIGINT. latency p50/p99 ms: decode 0.30/0.50  alarm 5.00/9.00 | "
           "events: alarm 2, alarm_skipped 150, steer 200 | errors: none")


def test_exit_summary_events_and_stages_are_read():
    events = drive_summary.parse_events("listening on ...\n" + SUMMARY)
    assert events == {"alarm": 2, "alarm_skipped": 150, "steer": 200}
    assert drive_summary.parse_summary(SUMMARY)["alarm"] == drive_summary.StageTimes(p50=5.0, p99=9.0)
    assert drive_summary.parse_events("no summary") == {}


def test_table_compares_each_variant_with_no_alarm_and_shows_the_share_scored():
    def variant(median_ms: float, summary: str = "") -> wire.WireVariant:
        return wire.WireVariant(command="", round_trip=Stats.of([median_ms / 1000.0] * 3), unexpected_replies=0,
                                server=drive_summary.parse_summary(summary), steering_head=[],
                                events=drive_summary.parse_events(summary))

    result = wire.WireModel(checkpoint="pilotnet-0.pt", start_s=1.0, variants={
        alarm_wire.NONE: variant(4.0), "tta, --alarm-async": variant(4.4, SUMMARY)})
    lines = alarm_wire.table(result).splitlines()
    assert lines[2].startswith(f"| {alarm_wire.NONE} | 4.00 | 4.00 |  |")
    cells = [c.strip() for c in lines[3].split("|")[1:-1]]
    assert cells == ["tta, --alarm-async", "4.40", "4.40", "+10 %", "5.00 / 9.00", "25%"]  # (200 - 150) / 200


def test_variants_pair_each_monitor_file_with_and_without_async(tmp_path):
    flags = alarm_wire.variants({"tta": tmp_path / "tta.pt"})
    assert flags[alarm_wire.NONE] == ()
    assert flags["tta, scored before the reply"] == ("--alarm", "tta", "--alarm-file", str(tmp_path / "tta.pt"))
    assert flags["tta, --alarm-async"][-1] == "--alarm-async"
    assert len(flags) == 3
