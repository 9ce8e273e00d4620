"""The long version of the reliability tests: many SIGKILLs, thousands of fuzzed configs.

    .venv/bin/python scripts/reliability.py [--rounds 8] [--kills 3] [--examples 5000]

Each round runs tests/reliability/test_kill_resume.py with its own random kill times; the fuzz
test runs with --examples Hypothesis examples. Prints the totals (kills survived, rounds with a
difference, fuzzed configs, tracebacks).
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
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", test], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--examples", type=int, default=5000)
    args = parser.parse_args()
    kills, failed = 0, 0
    for round_ in range(args.rounds):
        result = pytest("tests/reliability/test_kill_resume.py", {"QUATON_KILLS": str(args.kills), "QUATON_KILL_SEED": str(1000 + round_)})
        survived = re.findall(r"kills survived: (\d+)", result.stdout)
        kills += int(survived[0]) if survived else 0
        failed += result.returncode != 0
        print(f"round {round_ + 1}/{args.rounds}: {'ok' if result.returncode == 0 else 'DIFFERENCE'}, kills {survived[0] if survived else '?'}", flush=True)
    fuzz = pytest("tests/reliability/test_config_fuzz.py", {"QUATON_FUZZ_EXAMPLES": str(args.examples)})
    print(f"kills survived with identical results: {kills} in {args.rounds} rounds, rounds with a difference: {failed}")
    print(f"fuzzed configs: {args.examples}, tracebacks: {0 if fuzz.returncode == 0 else 'see below'}")
    if fuzz.returncode != 0:
        print(fuzz.stdout[-3000:])
    sys.exit(1 if failed or fuzz.returncode else 0)


if __name__ == "__main__":
    main()
