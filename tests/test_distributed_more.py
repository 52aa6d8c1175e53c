"""The rest of torch.distributed's everyday API: reduce, gather, scatter, reduce_scatter, the
all_to_alls, the object collectives, point-to-point transfers, groups, monitored_barrier,
backend names and init_process_group's checks.

Each group of checks is one launch of tests/_mpi_more_worker.py: under ``mpiexec -n 3`` (three
ranks, so that sources, destinations and uneven splits are not trivial), or as one process
(argument errors, and torch's own gloo backend as a second reference in a world of one, when
torch is installed). The worker asserts every result against NumPy formulas of the ranks'
known inputs and writes each check's outcome per rank; each test here reads one check on every
rank. Every launch has a timeout, and the worker's groups a 20 s one, so nothing hangs. Skips
when mpi4py or mpiexec is missing (``MPIEXEC`` names a launcher explicitly).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import child_env, mpiexec

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_mpi_more_worker.py"
sys.path.insert(0, str(HERE))
try:
    import _mpi_more_worker as worker  # the check names, for the parameters below
finally:
    sys.path.pop(0)


def _launch(case, ranks, out, timeout):
    """Run CASE on ``ranks`` processes (1: without mpiexec); {rank: {check: outcome}}."""
    pytest.importorskip("mpi4py")
    cmd = [sys.executable, str(WORKER), str(out), case]
    env = child_env(OMP_NUM_THREADS="1")
    if ranks > 1:
        exe = mpiexec()
        if exe is None:
            pytest.skip("no mpiexec (pip install 'pydlk[mpi]')")
        cmd = [exe, "-n", str(ranks), *cmd]
    else:  # a process of its own, not a rank of whatever launched pytest
        env = {k: v for k, v in env.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    p = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=out, check=False
    )
    results = {}
    for r in range(ranks):
        f = out / f"{case}.{r}.json"
        assert f.exists(), (
            f"rank {r} wrote no results (exit {p.returncode}):\n{p.stdout}\n{p.stderr}"
        )
        results[r] = json.loads(f.read_text())
    assert p.returncode == 0, f"exit {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return results


def _names(case):
    return [f.__name__ for f in worker.CASES[case]]


def _assert_ok(results, check):
    """The check passed on every rank (or skipped on every rank: then the test skips)."""
    outcomes = {r: res.get(check, "not listed by the worker") for r, res in results.items()}
    if all(o.startswith("skip: ") for o in outcomes.values()):
        pytest.skip(outcomes[0][len("skip: ") :])
    failed = {r: o for r, o in outcomes.items() if o != "ok"}
    assert not failed, "\n".join(f"--- rank {r}:\n{o}" for r, o in failed.items())


def _fixture(case, ranks, timeout):
    @pytest.fixture(scope="module")
    def run(tmp_path_factory):
        return _launch(case, ranks, tmp_path_factory.mktemp(case), timeout)

    return run


tensor_run = _fixture("tensor", 3, 120)
objects_p2p_run = _fixture("objects_p2p", 3, 120)
groups_run = _fixture("groups", 3, 120)
faults_run = _fixture("faults", 3, 150)
init_run = _fixture("init", 3, 120)
single_run = _fixture("single", 1, 120)


@pytest.mark.parametrize("check", _names("tensor"))
def test_tensor_collectives_on_three_ranks(tensor_run, check):
    _assert_ok(tensor_run, check)


@pytest.mark.parametrize("check", _names("objects_p2p"))
def test_object_collectives_and_point_to_point_on_three_ranks(objects_p2p_run, check):
    _assert_ok(objects_p2p_run, check)


@pytest.mark.parametrize("check", _names("groups"))
def test_groups_on_three_ranks(groups_run, check):
    _assert_ok(groups_run, check)


@pytest.mark.parametrize("check", _names("faults"))
def test_late_ranks_are_named_on_three_ranks(faults_run, check):
    _assert_ok(faults_run, check)


@pytest.mark.parametrize("check", _names("init"))
def test_init_process_group_checks_what_the_caller_states(init_run, check):
    _assert_ok(init_run, check)


@pytest.mark.parametrize("check", _names("single"))
def test_one_process_argument_errors_and_torch_gloo(single_run, check):
    _assert_ok(single_run, check)


def test_every_check_reports_on_every_rank(tensor_run, objects_p2p_run, groups_run):
    """The worker ran exactly the checks listed (none skipped silently) on every rank."""
    for case, run in (
        ("tensor", tensor_run),
        ("objects_p2p", objects_p2p_run),
        ("groups", groups_run),
    ):
        for r in range(3):
            assert list(run[r]) == _names(case), (case, r)


def test_names_need_no_process_group():
    import pydlk.distributed as dist

    assert dist.Backend("NCCL") == dist.Backend.NCCL == "nccl"
    assert dist.get_default_backend_for_device("cpu") == "gloo"
    assert issubclass(dist.DistBackendError, dist.DistError)
    assert dist.GroupMember.NON_GROUP_MEMBER == -100
    assert dist.get_rank(dist.GroupMember.NON_GROUP_MEMBER) == -1
    with pytest.raises(ValueError, match="backend 'ucc' is not available"):
        dist.init_process_group("ucc")
    assert not dist.is_initialized()
