"""The long version of the reliability tests: many SIGKILLs, thousands of fuzzed configs.

    .venv/bin/python scripts/reliability.py [--rounds 8] [--kills 3] [--examples 5000] [--cli-examples N]
    .venv/bin/python scripts/reliability.py --cli-only [--cli-examples 850] [--cli-per-command train=300,sweep=1500]

Each round runs tests/reliability/test_kill_resume.py with its own random kill steps: a
hardware-aware run (PSQ quantizer, 16-level read-out with 0.5 step of read noise) killed with
SIGKILL --kills times, each time at a random training step of the epoch after its last checkpoint,
then resumed, must end bit for bit where the uninterrupted run ends (the run has --kills + 2
epochs). The fuzz test runs with --examples Hypothesis examples. Prints the totals (kills
survived, rounds with a difference, fuzzed configs, tracebacks).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pytest(test: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", test],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )


def cli_fuzz(examples: int, per_command: dict[str, int] | None = None) -> int:
    """tests/reliability/test_cli_fuzz.py with ``examples`` Hypothesis examples per command (or
    ``per_command``'s); prints the cases per command and the tracebacks found; returns pytest's code."""
    env = {"QUATON_CLI_FUZZ_EXAMPLES": str(examples)}
    env.update({f"QUATON_CLI_FUZZ_EXAMPLES_{name.upper()}": str(n) for name, n in (per_command or {}).items()})
    result = pytest("tests/reliability/test_cli_fuzz.py", env)
    cases = re.findall(r"cli fuzz cases per command: (.*)", result.stdout)
    failed = re.findall(r"^FAILED (\S+)", result.stdout, flags=re.MULTILINE)
    print(
        f"CLI fuzz cases: {cases[-1] if cases else '?'}; "
        f"commands with a traceback or an unclear error: {len(failed)} {failed}"
    )
    if result.returncode != 0:  # each failing command's case and traceback
        failures = result.stdout.split("= FAILURES =", 1)[-1]
        print(failures[-30000:])
    return result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--cli-examples", type=int, default=0, help="also fuzz every CLI command with this many examples per command"
    )
    parser.add_argument(
        "--cli-only", action="store_true", help="run only the CLI fuzz (--cli-examples, default 850 per command)"
    )
    parser.add_argument(
        "--cli-per-command",
        default="",
        help="examples per command, e.g. train=300,sweep=1500 (overrides --cli-examples)",
    )
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--examples", type=int, default=5000)
    args = parser.parse_args()
    per_command = {name: int(n) for name, n in (item.split("=") for item in args.cli_per_command.split(",") if item)}
    if args.cli_only:
        sys.exit(1 if cli_fuzz(args.cli_examples or 850, per_command) else 0)
    kills, failed = 0, 0
    for round_ in range(args.rounds):
        result = pytest(
            "tests/reliability/test_kill_resume.py",
            {"QUATON_KILLS": str(args.kills), "QUATON_KILL_SEED": str(1000 + round_)},
        )
        survived = re.findall(r"kills survived: (\d+)", result.stdout)
        kills += int(survived[0]) if survived else 0
        failed += result.returncode != 0
        print(
            f"round {round_ + 1}/{args.rounds}: {'ok' if result.returncode == 0 else 'DIFFERENCE'}, "
            f"kills {survived[0] if survived else '?'}",
            flush=True,
        )
        if result.returncode != 0:
            print(result.stdout[-3000:], flush=True)
    fuzz = pytest("tests/reliability/test_config_fuzz.py", {"QUATON_FUZZ_EXAMPLES": str(args.examples)})
    print(f"kills survived with identical results: {kills} in {args.rounds} rounds, rounds with a difference: {failed}")
    print(f"fuzzed configs: {args.examples}, tracebacks: {0 if fuzz.returncode == 0 else 'see below'}")
    if fuzz.returncode != 0:
        print(fuzz.stdout[-3000:])
    cli = cli_fuzz(args.cli_examples, per_command) if args.cli_examples or per_command else 0
    sys.exit(1 if failed or fuzz.returncode or cli else 0)


if __name__ == "__main__":
    main()
