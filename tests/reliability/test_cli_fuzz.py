"""Property-based: every CLI command, fed mutated inputs, either works or ends in one clear error.

Each command (train, eval, sweep, compare, export, simulate) is driven through the real CLI (typer's
CliRunner, in this process) with inputs mutated from good ones: ``--set`` values on every command,
sweep grid files mutated from the shipped ones (keys, types, table specs, ``out``, ``base``),
``--perturb`` names and values, export formats, output paths that cannot be written, design
directories and run directories in every state (missing, empty, half-written, foreign files). The
property: exit code 0, or exit code 2 with one line ``error: ...`` and no traceback; a failed command
writes nothing (its output path is not created) and a command that only reads leaves its inputs
byte for byte as they were.

CI runs a few examples of each (QUATON_CLI_FUZZ_EXAMPLES, default 6); scripts/reliability.py
--cli-examples runs thousands and prints the cases per command.

Training is real but tiny (train.epochs=0, 20 training / 10 test images, applied after the fuzzed
overrides), except in the sweep test, where ``quaton.train.loop.train`` is replaced by a stand-in
that writes the metrics a run of that config reports (the sweep's own logic, its checks and its
tables are what is fuzzed there; a real sweep runs in tests/train/test_sweep.py).
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from quaton.cli import app
from quaton.config import build_config

ROOT = Path(__file__).parents[2]
CONFIGS = ROOT / "configs"
SMOKE = CONFIGS / "smoke.yaml"
SWEEPS = sorted(p for p in CONFIGS.rglob("*.yaml") if "grid" in (yaml.safe_load(p.read_text()) or {}))
EXAMPLES = int(
    os.environ.get("QUATON_CLI_FUZZ_EXAMPLES", "6")
)  # per command; QUATON_CLI_FUZZ_EXAMPLES_TRAIN etc. per command
TINY = ["train.epochs=0", "train.progress=false", "data.train_size=20", "data.test_size=10", "train.threads=1"]
CASES: collections.Counter = collections.Counter()  # cases run per command (printed at the end)


def fuzz(command: str):
    """Hypothesis settings of one command's test: its number of examples, derandomized in CI."""
    examples = int(os.environ.get(f"QUATON_CLI_FUZZ_EXAMPLES_{command.upper()}", EXAMPLES))
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=examples <= 20,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )


# ---------------------------------------------------------------- values and paths ----------------

BAD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6),
    st.sampled_from(
        ["[]", "{}", "[1, a]", "200um", "532nm", "1e-6", "-1", "0", "1e30", "nan", "{a: 1}", "[[1]]", ":", "'"]
    ),
)


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))


RESOLVED = build_config(yaml.safe_load(SMOKE.read_text())).model_dump(mode="json")
# every key of the resolved config but those that would make a case long (epochs, sizes: TINY sets them)
SET_KEYS = sorted(
    ".".join(p)
    for p in _paths(RESOLVED)
    if ".".join(p) not in {"train.epochs", "data.train_size", "data.test_size", "train.threads"}
)


@st.composite
def overrides(draw, keys=None, max_size=3):
    """--set KEY=VALUE texts: real keys, misspelt keys, sections, with mutated values."""
    keys = keys or SET_KEYS
    texts = []
    for _ in range(draw(st.integers(0, max_size))):
        key = draw(
            st.one_of(
                st.sampled_from(keys),
                st.sampled_from(keys).map(lambda k: k + "_typo"),
                st.sampled_from(["", ".", "a..b", "optics", "train.epochs.x"]),
            )
        )
        value = draw(BAD_VALUES)
        raw = value if isinstance(value, str) else json.dumps(value)
        texts.append(
            draw(st.sampled_from([f"{key}={raw}", f"{key}", f"={raw}"]))
            if draw(st.integers(0, 9)) == 0
            else f"{key}={raw}"
        )
    return texts


def output_path(base: Path):
    """An output location: fresh, nested, existing, a file, unwritable, odd."""
    return st.sampled_from(["fresh", "nested", "existing", "file", "proc", "sys", "under_file", "long"]).map(
        lambda kind: (kind, _place(base, kind))
    )


def _place(base: Path, kind: str) -> Path:
    if kind == "existing":
        (base / "existing").mkdir(exist_ok=True)
    if kind in ("file", "under_file"):
        (base / "a_file").write_text("not a directory\n")
    return {
        "fresh": base / "fresh",
        "nested": base / "n1" / "n2",
        "existing": base / "existing",
        "file": base / "a_file",
        "proc": Path("/proc/quaton-x"),
        "sys": Path("/sys/quaton-x"),
        "under_file": base / "a_file" / "x",
        "long": base / ("x" * 300),
    }[kind]


# ---------------------------------------------------------------- run and design directories --------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny run (0 epochs) and its exported design."""
    base = tmp_path_factory.mktemp("cli-fuzz")
    runner = CliRunner()
    result = runner.invoke(
        app, ["train", str(SMOKE), *sum((["--set", s] for s in TINY), []), "--run-dir", str(base / "run")]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["export", str(base / "run"), "--out", str(base / "design")])
    assert result.exit_code == 0, result.output
    return base / "run", base / "design"


RUN_STATES = [
    "complete",
    "missing",
    "empty",
    "a_file",
    "config_only",
    "no_metrics",
    "garbage_checkpoint",
    "truncated_checkpoint",
    "garbage_config",
    "foreign_config",
    "garbage_metrics",
    "foreign_files",
    "list_config",
]


def make_run(source: Path, where: Path, state: str) -> Path:
    """A copy of ``source`` in ``state``."""
    run = where / f"run-{state}"
    if state == "missing":
        return run
    if state == "a_file":
        run.write_text("a file, not a run\n")
        return run
    if state == "empty":
        run.mkdir()
        return run
    shutil.copytree(source, run)
    if state == "config_only":
        for child in run.iterdir():
            if child.name != "config.yaml":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    elif state == "no_metrics":
        (run / "metrics.json").unlink()
    elif state == "garbage_checkpoint":
        (run / "checkpoint.pt").write_bytes(b"\x00garbage" * 10)
    elif state == "truncated_checkpoint":
        data = (run / "checkpoint.pt").read_bytes()
        (run / "checkpoint.pt").write_bytes(data[: len(data) // 3])
    elif state == "garbage_config":
        (run / "config.yaml").write_text("model: [unclosed\n")
    elif state == "foreign_config":
        (run / "config.yaml").write_text("optics:\n  wavelength: 532\n")
    elif state == "list_config":
        (run / "config.yaml").write_text("- 1\n- 2\n")
    elif state == "garbage_metrics":
        (run / "metrics.json").write_text("{not json")
    elif state == "foreign_files":
        (run / "notes.txt").write_text("hello")
        (run / "checkpoint.pt.tmp").write_bytes(b"half")
        (run / "figures" / "x.png").write_bytes(b"not a png")
    return run


DESIGN_STATES = [
    "complete",
    "missing",
    "empty",
    "a_file",
    "no_design_json",
    "garbage_json",
    "missing_layer",
    "wrong_shape_layer",
    "field_mutated",
    "field_deleted",
    "garbage_layer",
]


def make_design(source: Path, where: Path, state: str, field: str, value) -> Path:
    design = where / f"design-{state}"
    if state == "missing":
        return design
    if state == "a_file":
        design.write_text("x")
        return design
    if state == "empty":
        design.mkdir()
        return design
    shutil.copytree(source, design, ignore=shutil.ignore_patterns("simulations"))
    description = json.loads((design / "design.json").read_text())
    if state == "no_design_json":
        (design / "design.json").unlink()
    elif state == "garbage_json":
        (design / "design.json").write_text("{oops")
    elif state == "missing_layer":
        (design / "layer_01.npy").unlink()
    elif state == "wrong_shape_layer":
        import numpy as np

        np.save(design / "layer_01.npy", np.zeros((3, 5)))
    elif state == "garbage_layer":
        (design / "layer_02.npy").write_bytes(b"\x93NUMPY garbage")
    elif state in ("field_mutated", "field_deleted"):
        if state == "field_deleted":
            description.pop(field, None)
        else:
            description[field] = value
        (design / "design.json").write_text(json.dumps(description, allow_nan=True))
    return design


# ---------------------------------------------------------------- the property ---------------------


def snapshot(*paths: Path) -> dict[str, str]:
    """Content hashes of every file under ``paths`` (to show a command left them as they were)."""
    files = {}
    for root in paths:
        if root.is_file():
            files[str(root)] = hashlib.sha1(root.read_bytes()).hexdigest()
        elif root.is_dir():
            for file in sorted(root.rglob("*")):
                if file.is_file():
                    files[str(file)] = hashlib.sha1(file.read_bytes()).hexdigest()
    return files


def check(command: str, args: list[str], *, reads: tuple[Path, ...] = (), writes: Path | None = None) -> str:
    """Run ``quaton ARGS``; assert it works or fails with one clear error; return its output."""
    CASES[command] += 1
    before = snapshot(*reads)
    existed = writes is not None and _exists(writes)
    result = CliRunner().invoke(app, args, catch_exceptions=True)
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        trace = "".join(
            traceback.format_exception(type(result.exception), result.exception, result.exception.__traceback__)
        )
        pytest.fail(f"quaton {' '.join(args)}\nraised instead of one clear error:\n{trace}")
    # 2: what was given is wrong (config, path, file); 1: training cannot go on (memory, a NaN loss)
    assert result.exit_code in (0, 1, 2), f"quaton {' '.join(args)} exited {result.exit_code}:\n{output}"
    assert "Traceback" not in output, output
    if result.exit_code in (1, 2):
        errors = [line for line in output.splitlines() if line.startswith("error: ")]
        usage = "Usage:" in output  # click's own usage errors (missing argument) also exit 2
        assert usage or len(errors) == 1, f"quaton {' '.join(args)}: not one error line:\n{output}"
        assert usage or len(errors[0]) > len("error: ") + 10
        if writes is not None and not existed:
            assert not _exists(writes), f"quaton {' '.join(args)} failed but created {writes}"
    assert snapshot(*reads) == before, f"quaton {' '.join(args)} changed its inputs"
    return output


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def sets(texts: list[str]) -> list[str]:
    return sum((["--set", t] for t in texts), [])


@pytest.fixture(scope="module", autouse=True)
def report_cases():
    yield
    print(f"\ncli fuzz cases per command: {dict(sorted(CASES.items()))}, total {sum(CASES.values())}")


# ---------------------------------------------------------------- the commands ---------------------


@fuzz("train")
@given(fuzzed=overrides(max_size=2), state=st.sampled_from(RUN_STATES), data=st.data())
def test_train(trained, tmp_path, fuzzed, state, data):
    run, _ = trained
    where = Path(tempfile.mkdtemp(dir=tmp_path))
    if state == "complete" and data.draw(st.booleans()):
        target = where / "new-run"
    else:
        target = make_run(run, where, state)
    fresh = ["--fresh"] if data.draw(st.integers(0, 3)) == 0 else []
    check("train", ["train", str(SMOKE), *sets(fuzzed + TINY), "--run-dir", str(target), *fresh])


@fuzz("eval")
@given(
    fuzzed=overrides(
        keys=[k for k in SET_KEYS if k.startswith("hardware.")]
        + ["model.grid", "optics.wavelength", "train.eval_batch_size", "hardware"],
        max_size=2,
    ),
    state=st.sampled_from(RUN_STATES),
    json_kind=st.sampled_from([None, "fresh", "proc", "existing", "under_file", "long"]),
)
def test_eval(trained, tmp_path, fuzzed, state, json_kind):
    run, _ = trained
    where = Path(tempfile.mkdtemp(dir=tmp_path))
    target = make_run(run, where, state)
    args = ["eval", str(target), *sets(fuzzed)]
    json_path = None
    if json_kind:
        json_path = _place(where, json_kind) if json_kind != "fresh" else where / "m" / "metrics.json"
        args += ["--json", str(json_path)]
    check("eval", args, reads=(target,), writes=json_path)


@fuzz("compare")
@given(states=st.lists(st.sampled_from(RUN_STATES), min_size=0, max_size=3), data=st.data())
def test_compare(trained, tmp_path, states, data):
    run, _ = trained
    where = Path(tempfile.mkdtemp(dir=tmp_path))
    runs = [make_run(run, where / str(i), state) for i, state in enumerate(states) if (where / str(i)).mkdir() is None]
    kind, out = data.draw(output_path(where))
    check("compare", ["compare", *map(str, runs), "--out", str(out)], reads=tuple(runs), writes=out)


@fuzz("export")
@given(
    state=st.sampled_from(RUN_STATES),
    formats=st.lists(st.sampled_from(["npy", "tiff", "stl", "png", "", "NPY", "stl "]), max_size=3),
    data=st.data(),
)
def test_export(trained, tmp_path, state, formats, data):
    run, _ = trained
    where = Path(tempfile.mkdtemp(dir=tmp_path))
    target = make_run(run, where, state)
    kind, out = data.draw(output_path(where))
    check(
        "export",
        ["export", str(target), "--out", str(out), *sum((["--format", f] for f in formats), [])],
        reads=(target,),
        writes=out,
    )


PERTURB_NAMES = ["phase_noise", "height_error", "shift", "distance_error", "noise", "", "shift_x", "PHASE_NOISE"]
PERTURB_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-100, 100).map(str),
    st.sampled_from(["", "1:1", "0:1", "9:1", "1:-1", "a", "1e9", "-2", "-1", "0.5", "nan", "inf", "1:", ":1", "2π"]),
)


@fuzz("simulate")
@given(
    state=st.sampled_from(DESIGN_STATES),
    field=st.sampled_from(
        [
            "wavelength",
            "pitch",
            "grid",
            "distances",
            "layers",
            "propagation",
            "input",
            "detector",
            "format",
            "version",
            "task",
            "hardware",
            "material",
        ]
    ),
    value=BAD_VALUES,
    perturbs=st.lists(
        st.tuples(st.sampled_from(PERTURB_NAMES), PERTURB_VALUES).map(lambda p: f"{p[0]}={p[1]}"), max_size=3
    ),
    fuzzed=overrides(
        keys=["data.test_size", "data.dataset", "hardware.readout.noise", "train.eval_batch_size", "seed"], max_size=1
    ),
    draws=st.sampled_from([None, "1", "2", "0", "-1", "x"]),
    data=st.data(),
)
def test_simulate(trained, tmp_path, state, field, value, perturbs, fuzzed, draws, data):
    _, design = trained
    where = Path(tempfile.mkdtemp(dir=tmp_path))
    target = make_design(design, where, state, field, value)
    args = [
        "simulate",
        str(target),
        *sum((["--perturb", p] for p in perturbs), []),
        *sets(fuzzed + ["data.test_size=10"]),
    ]
    if draws is not None:
        args += ["--draws", draws]
    out = None
    if data.draw(st.booleans()):
        kind, out = data.draw(output_path(where))
        args += ["--out", str(out)]
    reads = (target,) if out is None or not str(out).startswith(str(target)) else ()
    check(
        "simulate",
        args,
        reads=tuple(p for p in reads if p.is_file()) + tuple(p / "design.json" for p in reads if p.is_dir()),
        writes=out,
    )


# ---------------------------------------------------------------- sweep ----------------------------


def _fake_train(config, run_dir, *args, **kwargs):
    """Stand-in for a training run: the metrics a run of ``config`` reports, written as a run would."""
    from quaton.config import dump_config
    from quaton.experiments.sweep import reported_metrics
    from quaton.runs import CONFIG, METRICS, atomic_write_text, write_json

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / CONFIG, dump_config(config))
    metrics = {name: 0.5 for name in reported_metrics(config)}
    write_json(run_dir / METRICS, {**metrics, "primary_metric": next(iter(metrics)), "test_size": 10})
    return metrics


def _fake_evaluate(run_dir, overrides=None):
    from quaton.config import load_config
    from quaton.experiments.sweep import reported_metrics
    from quaton.runs import CONFIG

    config = load_config(Path(run_dir) / CONFIG, overrides)
    return {name: 0.25 for name in reported_metrics(config)} | {"test_size": 10}


SWEEP_KEYS = [
    "base",
    "name",
    "out",
    "caption",
    "set",
    "grid",
    "table",
    "plot",
    "table.rows",
    "table.columns",
    "table.metric",
    "plot.x",
    "grid.*",
    "set.*",
    "extra",
]


@st.composite
def sweep_file(draw, where: Path):
    """A sweep grid mutated from a shipped one; ``out`` inside ``where`` unless mutated; returns (data, out)."""
    source = draw(st.sampled_from(SWEEPS))
    data = yaml.safe_load(source.read_text())
    data["base"] = str((source.parent / data["base"]).resolve())
    data["out"] = str(where / "out")
    # keep the cases short: one or two values per axis
    data["grid"] = {key: values[: draw(st.integers(1, 2))] for key, values in data["grid"].items()}
    grid_keys = list(data["grid"])
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(SWEEP_KEYS))
        kind = draw(st.sampled_from(["bad", "grid_key", "typo", "delete", "path"]))
        value = {
            "bad": draw(BAD_VALUES),
            "grid_key": draw(st.sampled_from(grid_keys)),
            "typo": "quantization.methd",
            "delete": None,
            "path": str(draw(output_path(where))[1]),
        }[kind]
        if key == "grid.*":
            axis = draw(st.sampled_from(grid_keys))
            data["grid"][axis if kind != "typo" else axis + "_typo"] = [value] if kind != "delete" else []
        elif key == "set.*":
            data.setdefault("set", {})
            if isinstance(data["set"], dict):
                data["set"][draw(st.sampled_from(SET_KEYS))] = value
        elif "." in key:
            section, name = key.split(".")
            if not isinstance(data.get(section), dict):
                data[section] = {}
            if kind == "delete":
                data[section].pop(name, None)
            else:
                data[section][name] = [value] if name == "rows" and draw(st.booleans()) else value
        elif kind == "delete":
            data.pop(key, None)
        else:
            data[key] = value
    return data


@fuzz("sweep")
@given(data=st.data(), dry=st.booleans(), fuzzed=overrides(max_size=1))
def test_sweep(tmp_path, monkeypatch, data, dry, fuzzed):
    import quaton.train.evaluate
    import quaton.train.loop

    monkeypatch.setattr(quaton.train.loop, "train", _fake_train)
    monkeypatch.setattr(quaton.train.evaluate, "evaluate_run", _fake_evaluate)
    where = Path(tempfile.mkdtemp(dir=tmp_path))
    spec = data.draw(sweep_file(where))
    path = where / "grid.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    out = Path(spec["out"]) if isinstance(spec.get("out"), str) and spec["out"] else None
    previous = os.getcwd()
    os.chdir(where)  # a relative or missing out: lands in this case's folder
    try:
        output = check(
            "sweep", ["sweep", str(path), *sets(fuzzed), *(["--dry-run"] if dry else [])], writes=out if dry else None
        )
    finally:
        os.chdir(previous)
    if not dry and "tables:" in output:
        assert (Path(where) / (out or Path("runs/sweeps/x"))).parent.exists()


# ---------------------------------------------------------------- the three cases of issue 20 -------


def test_a_table_key_outside_the_grid_fails_before_any_run(tmp_path, monkeypatch):
    import quaton.train.loop

    trainings = []
    monkeypatch.setattr(quaton.train.loop, "train", lambda *a, **k: trainings.append(a))
    spec = {
        "base": str(SMOKE),
        "out": str(tmp_path / "out"),
        "grid": {"quantization.levels": [2, 4], "quantization.method": ["pq"]},
        "table": {"rows": ["quantization.levels"], "columns": "seed"},
    }
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(app, ["sweep", str(tmp_path / "grid.yaml")])
    assert result.exit_code == 2 and "table.columns 'seed' is not a grid key" in result.output
    assert "quantization.levels" in result.output and "Traceback" not in result.output
    assert trainings == [] and not (tmp_path / "out").exists()
    spec["table"] = {"rows": ["quantization.levels"], "columns": "quantization.method", "metric": "test_ssim"}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(app, ["sweep", str(tmp_path / "grid.yaml"), "--dry-run"])
    assert (
        result.exit_code == 2
        and "table.metric 'test_ssim' is not reported" in result.output
        and "test_accuracy" in result.output
    )


@pytest.mark.parametrize("out", ["/proc/quaton-sweep", "{tmp}/a_file/out"])
def test_an_unwritable_sweep_out_fails_before_any_run(tmp_path, monkeypatch, out):
    import quaton.train.loop

    trainings = []
    monkeypatch.setattr(quaton.train.loop, "train", lambda *a, **k: trainings.append(a))
    (tmp_path / "a_file").write_text("x")
    out = out.format(tmp=tmp_path)
    spec = {"base": str(SMOKE), "out": out, "grid": {"quantization.method": ["none"]}}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(spec))
    for extra in ([], ["--dry-run"]):
        result = CliRunner().invoke(app, ["sweep", str(tmp_path / "grid.yaml"), *extra])
        assert result.exit_code == 2 and f"out: {out} cannot be written" in result.output, result.output
    assert trainings == []


@pytest.mark.parametrize("command", ["export", "compare", "eval"])
def test_an_unwritable_output_path_is_one_clear_error_before_any_work(trained, tmp_path, command):
    run, _ = trained
    before = snapshot(run)
    args = {
        "export": ["export", str(run), "--out", "/proc/x"],
        "compare": ["compare", str(run), "--out", "/proc/x"],
        "eval": ["eval", str(run), "--json", "/proc/x/metrics.json"],
    }[command]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "/proc/x" in result.output and "cannot be written" in result.output and "Traceback" not in result.output
    assert snapshot(run) == before


def test_the_metrics_a_sweep_checks_are_the_metrics_a_run_reports(trained):
    """reported_metrics (what check_table accepts) against a real run's metrics.json."""
    from quaton.config import load_config
    from quaton.experiments.sweep import reported_metrics

    run, _ = trained
    metrics = json.loads((run / "metrics.json").read_text())
    claimed = reported_metrics(load_config(run / "config.yaml"))
    assert set(claimed) <= set(metrics) and all(
        isinstance(metrics[m], float) and math.isfinite(metrics[m]) for m in claimed
    )


def test_a_sweep_base_that_is_not_a_config_mapping_is_one_error(tmp_path):
    """Found by the long fuzz: a base file holding a YAML string crashed in set_dotted (AttributeError)."""
    (tmp_path / "base.yaml").write_text("just text\n")
    spec = {"base": "base.yaml", "out": str(tmp_path / "out"), "grid": {"seed": [0]}, "table": {"columns": "seed"}}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(app, ["sweep", str(tmp_path / "grid.yaml")])
    assert result.exit_code == 2 and "base:" in result.output and "must hold a mapping" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize("fresh", [[], ["--fresh"]])
def test_a_run_dir_that_is_a_file_is_one_error(tmp_path, fresh):
    """Found by the fuzz: --run-dir naming a file ended in FileExistsError from mkdir."""
    (tmp_path / "a_file").write_text("mine\n")
    result = CliRunner().invoke(app, ["train", str(SMOKE), *sets(TINY), "--run-dir", str(tmp_path / "a_file"), *fresh])
    assert result.exit_code == 2 and "--run-dir" in result.output and "a_file" in result.output, result.output
    assert (tmp_path / "a_file").read_text() == "mine\n"


def test_a_run_dir_with_a_damaged_config_is_refused_not_a_yaml_traceback(trained, tmp_path):
    """Found by the long fuzz: a run directory whose config.yaml is not YAML crashed the resume check."""
    run, _ = trained
    damaged = make_run(run, tmp_path, "garbage_config")
    before = snapshot(damaged)
    result = CliRunner().invoke(app, ["train", str(SMOKE), *sets(TINY), "--run-dir", str(damaged)])
    assert result.exit_code == 2 and "config.yaml: 'unreadable YAML'" in result.output and "--fresh" in result.output, (
        result.output
    )
    assert snapshot(damaged) == before  # kept as it was


@pytest.mark.parametrize("command", ["train", "sweep", "base"])
def test_a_path_too_long_for_the_file_system_is_one_error(tmp_path, command):
    """Found by the long fuzz: Path.is_file raised OSError (name too long) instead of 'does not exist'."""
    long = str(tmp_path / ("y" * 300))
    if command == "base":
        (tmp_path / "grid.yaml").write_text(
            yaml.safe_dump({"base": long, "grid": {"seed": [0]}, "table": {"columns": "seed"}})
        )
        args = ["sweep", str(tmp_path / "grid.yaml")]
    else:
        args = [command, long]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "does not exist" in result.output and "Traceback" not in result.output, (
        result.output
    )


@pytest.mark.parametrize("command", ["compare", "export"])
def test_a_run_with_a_damaged_metrics_json_is_one_error(trained, tmp_path, command):
    """Found by the fuzz: a metrics.json that is not JSON ended in JSONDecodeError (read_json)."""
    run, _ = trained
    damaged = make_run(run, tmp_path, "garbage_metrics")
    result = CliRunner().invoke(app, [command, str(damaged), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "metrics.json is unreadable or not JSON" in result.output, result.output
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize("field", ["hardware", "task"])
@pytest.mark.parametrize("value", [None, [], "x"])
def test_a_design_whose_optional_section_is_not_an_object_is_one_error(trained, tmp_path, field, value):
    """Found by the long fuzz: design.json with "hardware": null crashed quaton simulate (AttributeError)."""
    _, design = trained
    broken = make_design(design, tmp_path, "field_mutated", field, value)
    result = CliRunner().invoke(app, ["simulate", str(broken), "--set", "data.test_size=10"])
    assert result.exit_code == 2 and f"field '{field}' must be an object" in result.output, result.output
    assert not (broken / "simulations").exists()
