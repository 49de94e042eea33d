"""docs/benchmarks.md and its chart, from one run's results: the Machine table, then each benchmark's section.

Every number on the page comes from a run's results (bench/results.json); nothing here is typed in
by hand. Each section, its goals and findings belong to its benchmark's module; this module orders
them, adds the machine the run measured on and draws one chart panel per benchmark that has one.
"""
from __future__ import annotations

from pathlib import Path

from bench.machine import cpu_line
from bench.markdown import table
from bench.registry import BENCHMARKS, Run

# Section order on the page (its numbers are cited from other docs); a new page benchmark goes last.
ORDER = ("wire", "latency", "closed_loop", "limits", "training", "data", "render", "soak")


def page_names(record: Run) -> list[str]:
    """The page's benchmarks that this run has results for, in page order."""
    names = [n for n in ORDER if n in BENCHMARKS] + [n for n, b in BENCHMARKS.items() if b.page and n not in ORDER]
    return [n for n in names if n in record.results]


def markdown(record: Run, png_name: str) -> str:
    m, v = record.machine, record.machine.versions
    lines = ["# Benchmarks", "",
             f"Regenerate with `{record.command}` (about {record.wall_s / 60:.0f} minutes here); the page and "
             f"`{png_name}` are rewritten from that run's measurements (raw numbers: `bench/results.json`). "
             "`python -m bench` lists every benchmark and where its figures go; each section below belongs to "
             "one module of `bench/`; `python -m bench NAME --update` measures one section again and keeps "
             "the others' results.",
             "", "## Machine", ""]
    lines += table(["", ""], [
        ["CPU", cpu_line(m)], ["cores", str(m.cores)],
        ["GPU", m.gpu], ["torch", v["torch"]], ["onnxruntime", v["onnxruntime"]], ["openvino", v["openvino"]],
        ["python", v["python"]], ["date", m.date],
        ["load average (start / end)", f"{m.loadavg_start or 0.0:.1f} / {record.loadavg_end:.1f} "
                                       "(shared machine: other work ran alongside)"]]
        + [[f"section {name}", f"measured separately: `{sep.command}`, {sep.date}, {sep.cpu}, "
                               f"{sep.cores} cores, load average {sep.loadavg[0]:.1f} / {sep.loadavg[1]:.1f}"]
           for name, sep in record.measured_separately.items()])
    found: list[str] = []
    for name in page_names(record):
        entry = BENCHMARKS[name]
        others = entry.others(record.results)
        lines.append(entry.section(record.results[name], **others))
        found += entry.findings(record.results[name], **others)
    if found:
        lines += ["## Findings", ""] + found + [""]
    lines += [f"![benchmarks]({png_name})", ""]
    return "\n".join(lines)


def write(record: Run, md_path: Path, png_path: Path) -> None:
    """Rewrite the page and its chart."""
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(markdown(record, png_path.name))
    chart(record, png_path)


def chart(record: Run, path: Path) -> None:
    """One panel per benchmark on the page that draws one (latency, training, data today)."""
    import matplotlib  # only the page needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [n for n in page_names(record) if BENCHMARKS[n].plot is not None]
    fig, axes = plt.subplots(1, max(3, len(panels)), figsize=(6 * max(3, len(panels)), 5.5))
    for ax, name in zip(axes, panels, strict=False):
        BENCHMARKS[name].plot(record.results[name], ax)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
