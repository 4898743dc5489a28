"""CLI start-up: median wall time of help and version, against interpreter baselines measured in the same run.

    python benchmarks/cli_startup.py [--rounds 15]

Each case is a fresh process running the ``elearning`` entry point (``python -m``-style, no shell), the cases
interleaved round by round so machine noise falls on all of them alike. Baselines: ``python -c pass``,
``python -c "import typer"`` (what any Typer CLI pays before its own code) and a bare Typer app's
``group cmd --help`` (what any Typer subcommand's help pays). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ENTRY = "import sys; from elearning_cli.main import run; sys.argv = ['elearning', *sys.argv[1:]]; run()"

# The floor of any Typer CLI's subcommand help: the smallest app with one group and one command, one option.
# Typer (0.29) builds a pydantic adapter for the parent groups' --help options, so this pays pydantic's import.
BARE_TYPER = """
import sys, typer
app = typer.Typer(add_completion=False)
group = typer.Typer()
app.add_typer(group, name="group")
@group.command("cmd")
def cmd(level: str = typer.Option("a", help="A level.")) -> None:
    pass
sys.argv = ["bare", *sys.argv[1:]]
app()
"""

CASES: list[tuple[str, list[str]]] = [
    ("baseline `python -c pass`", ["-c", "pass"]),
    ("baseline `python -c 'import typer'`", ["-c", "import typer"]),
    ("baseline bare Typer app `group cmd --help`", ["-c", BARE_TYPER, "group", "cmd", "--help"]),
    ("`elearning --help`", ["-c", ENTRY, "--help"]),
    ("`elearning --version`", ["-c", ENTRY, "--version"]),
    ("`elearning courses --help`", ["-c", ENTRY, "courses", "--help"]),
    ("`elearning courses list --help`", ["-c", ENTRY, "courses", "list", "--help"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "100"}
    times: dict[str, list[float]] = {name: [] for name, _ in CASES}
    with tempfile.TemporaryDirectory() as data_dir:
        env["ELEARNING_DATA_DIR"] = data_dir
        for _ in range(args.rounds):
            for name, argv in CASES:
                started = time.perf_counter()
                subprocess.run([sys.executable, *argv], env=env, cwd=data_dir, capture_output=True, check=True)
                times[name].append(time.perf_counter() - started)
    base = statistics.median(times[CASES[0][0]])
    print(f"- Machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
    print(f"- {args.rounds} interleaved rounds, one fresh process per run\n")
    floor = statistics.median(times[CASES[2][0]])
    print("| command | median wall (ms) | min (ms) | x `python -c pass` | x bare Typer help |")
    print("|---|---:|---:|---:|---:|")
    for name, _ in CASES:
        median = statistics.median(times[name])
        row = f"| {name} | {median * 1000:.0f} | {min(times[name]) * 1000:.0f} | {median / base:.1f}"
        print(f"{row} | {median / floor:.2f} |")


if __name__ == "__main__":
    main()
