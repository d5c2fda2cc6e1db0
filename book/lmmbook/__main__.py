"""Command line: ``python -m lmmbook reproduce [--json] [--table ID]`` (also installed as ``lmmbook``).

Recomputes every published table of the two lectures from lmmlib and the data, without
running any notebook, and prints each published number with its reproduction and status.
Exits with status 1 when a number differs without an explanation or an explanation no
longer applies.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .report import failed, reproducibility_report, summary
from .style import more_digits


def _progress(done: int, total: int, table_id: str) -> None:
    if sys.stderr.isatty() or done == total:
        end = "\n" if done == total else ""
        text = f"reproducing {table_id} ({done + 1}/{total})" if done < total else f"reproduced {total} tables"
        print(f"\r{text:<70}", end=end, file=sys.stderr, flush=True)
    else:
        print(f"reproducing {table_id} ({done + 1}/{total})", file=sys.stderr, flush=True)


def _records(report) -> list[dict]:
    records = []
    for row in report.itertuples(index=False):
        records.append({
            "table_id": row.table_id, "row": row.row, "column": row.column, "published": row.published,
            "decimals": int(row.decimals), "rule": row.rule,
            "reproduced": None if np.isnan(row.reproduced) else float(row.reproduced),
            "status": row.status, "explanation": row.explanation or None,
        })
    return records


def _print_readable(report) -> None:
    for lecture, by_lecture in report.groupby("lecture", sort=False):
        print(f"\n{lecture}")
        print("=" * len(lecture))
        for table_id, table in by_lecture.groupby("table_id", sort=False):
            print(f"\n{table_id}")
            shown = table[["row", "column", "published", "reproduced", "rule", "status", "explanation"]].copy()
            shown["reproduced"] = [more_digits(value, printed) if printed else ""
                                   for value, printed in zip(table["reproduced"], table["at printed precision"])]
            shown["status"] = [s if not e else f"{s} ({e})" for s, e in zip(shown["status"], shown["explanation"])]
            print(shown.drop(columns="explanation").to_string(index=False))
    print("\nSummary")
    print(summary(report).to_string())
    for note in report.attrs.get("boundary", []):
        print(f"\nNote, on the boundary of the parameter space: {note}")
    for text in sorted(set(report.loc[report["explanation"] == "data-file-missing", "explanation text"])):
        print(f"\n{text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lmmbook", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("reproduce", help="recompute every published table and report its status")
    command.add_argument("--json", action="store_true", help="print JSON records (full precision) instead of tables")
    command.add_argument("--table", metavar="ID", action="append",
                         help="only this table (repeat for several)")
    arguments = parser.parse_args(argv)
    try:
        report = reproducibility_report(arguments.table, progress=_progress)
    except ValueError as error:
        parser.error(str(error))
    if arguments.json:
        print(json.dumps(_records(report), indent=1, ensure_ascii=False))
    else:
        _print_readable(report)
    return 1 if failed(report) else 0


if __name__ == "__main__":
    sys.exit(main())
