"""A sweep on a Dask cluster gives the same results as on local worker processes."""

from __future__ import annotations

import json

import pytest
from conftest import CONFIGS, ROOT, assert_clean_error, run_cli

from nnlearn.errors import NnlearnError
from nnlearn.sweeps import sweep as sw

distributed = pytest.importorskip("distributed")

SWEEP = f"""
base: {CONFIGS / "iris.yaml"}
set: {{training.epochs: 15}}
grid:
  training.learning_rate: [0.01, 0.1]
random:
  trials: 2
  seed: 3
  space: {{model.hidden: {{choice: [[4], [8]]}}}}
seeds: [0, 1]
metric: val_accuracy
"""


@pytest.fixture(scope="module")
def cluster():
    # In-process workers (processes=False) start fast; tcp so that a CLI subprocess can
    # connect as it would to a real scheduler.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as c:
        yield c


def _csv(out):
    return (out / "results.csv").read_text()


def test_dask_results_equal_the_local_results(tmp_path, cluster):
    path = tmp_path / "s.yaml"
    path.write_text(SWEEP)
    local = sw.run_sweep(sw.load_sweep(path), tmp_path / "local", workers=2)
    # a generous timeout: on a loaded machine the in-process cluster can be slow to answer
    with sw.dask_executor(cluster.scheduler_address, timeout=60) as executor:
        remote = sw.run_sweep(sw.load_sweep(path), tmp_path / "dask", executor=executor)
    assert local.failed == remote.failed == 0
    assert len(local.records) == 8
    assert _csv(tmp_path / "local") == _csv(tmp_path / "dask")  # same names, same numbers
    for a, b in zip(local.records, remote.records):
        assert a["metrics"] == b["metrics"]
    assert local.summary == remote.summary
    # the same folder layout: every run folder holds the same files
    for rec in remote.records:
        for name in ("config.yaml", "model.npz", "history.csv", "metrics.json"):
            assert (tmp_path / "dask" / rec["name"] / name).is_file()


def test_cli_scheduler_option(tmp_path, cluster):
    path = tmp_path / "s.yaml"
    path.write_text(SWEEP)
    proc = run_cli("sweep", path, "--out", tmp_path / "out", "--json",
                   "--scheduler", cluster.scheduler_address)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["runs"], data["ran"], data["failed"]) == (8, 8, 0)


def test_unreachable_scheduler_is_a_clean_error():
    with pytest.raises(NnlearnError, match="cannot connect to the Dask scheduler"), \
            sw.dask_executor("tcp://127.0.0.1:9", timeout=1):
        pass


def test_missing_dask_is_exit_2_with_the_install_hint(tmp_path):
    fake = tmp_path / "fake"
    (fake / "distributed").mkdir(parents=True)
    (fake / "distributed" / "__init__.py").write_text("raise ImportError('not installed')\n")
    path = tmp_path / "s.yaml"
    path.write_text(f"base: {CONFIGS / 'xor.yaml'}\n")
    proc = run_cli("sweep", path, "--out", tmp_path / "out", "--scheduler", "tcp://x:1",
                   env={"PYTHONPATH": f"{fake}:{ROOT}"})
    assert_clean_error(proc, 2, "distributed", "pip install 'nnlearn[dask]'")
