"""`python -m bench`: list the benchmarks, run some, or run them all and rewrite docs/benchmarks.md.

    python -m bench                          # every benchmark, one line each
    python -m bench all                      # all of them (`make bench`): results.json, the page, its chart
    python -m bench latency limits           # print these sections; results.json and the page stay
    python -m bench soak --update            # replace soak's results in results.json, rewrite the page
    python -m bench all --quick              # smallest settings: checks that everything runs, writes nothing
    python -m bench --from-json bench/results.json   # measure nothing: rewrite the page from stored results
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bench import page, registry
from steering.cli import setup_logging

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:9]))
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run, or `all`; none: list them")
    parser.add_argument("--quick", action="store_true",
                        help="smallest settings (a smoke run, not figures): prints, writes no file")
    parser.add_argument("--update", action="store_true",
                        help="with NAMEs: put their results into --json in place of the stored ones and rewrite "
                             "the page (it names them as measured separately, with their date and load)")
    parser.add_argument("--no-docs", action="store_true",
                        help="write no doc (the page, its chart, docs/model.md's input-size table)")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results.json", help="raw results file")
    parser.add_argument("--md", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--png", type=Path, default=REPO / "docs" / "benchmarks.png")
    parser.add_argument("--save", type=Path, default=None,
                        help="with NAMEs: write this run's results here (how `all` reads a benchmark it runs in a "
                             "process of its own)")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="measure nothing: rewrite the page from a results file of an earlier run")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def list_benchmarks() -> str:
    width = max(map(len, registry.BENCHMARKS))
    lines = [f"{name:<{width}}  {entry.help} -> {entry.doc}"
             for name, entry in registry.BENCHMARKS.items()]
    return "\n".join(lines + ["", "`python -m bench all` (`make bench`) runs them all, in this order, and rewrites "
                              "docs/benchmarks.md, its chart and docs/model.md's table; the others print theirs."])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    for noisy in ("steering", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.from_json:
        page.write(registry.load(args.from_json), args.md, args.png)
        print(f"wrote {args.md} and {args.png}")
        return 0
    if not args.names:
        print(list_benchmarks())
        return 0
    names = list(registry.BENCHMARKS) if args.names == ["all"] else args.names
    try:
        for name in names:
            registry.get(name)
    except KeyError as exc:
        print(f"bench: {exc.args[0]}", file=sys.stderr)
        return 2
    # Several benchmarks in one process: those that set process-wide state get a process of their own
    # (the child, started with --save, runs its one benchmark in place).
    record = registry.run(names, quick=args.quick, isolate=len(names) > 1 and not args.save)
    whole = args.names == ["all"] and not args.quick
    for name, result in record.results.items():
        entry = registry.BENCHMARKS[name]
        if not (entry.page and whole or args.save):  # the page's sections go to the page; --save: the caller prints
            found = entry.findings(result, **entry.others(record.results))
            print("\n".join([entry.section(result, **entry.others(record.results)), *found, ""]))
        if entry.publish is not None and not (args.no_docs or args.quick):
            print(f"wrote {entry.publish(result)}")
    if args.save:
        registry.save(record, args.save)
    if args.quick:
        return 0
    if whole:
        registry.save(record, args.json)
    elif args.update:
        record = registry.merge(registry.load(args.json), record)
        registry.save(record, args.json)
    else:
        return 0
    if not args.no_docs:
        page.write(record, args.md, args.png)
        print(f"wrote {args.md} and {args.png} ({record.wall_s / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
