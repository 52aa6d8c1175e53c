"""Checks run under ``mpiexec -n 3`` (and one process) by tests/test_distributed_more.py.

``python _mpi_more_worker.py OUT CASE`` runs every check of CASE in order on every rank. Each
check computes the expected result from the ranks' known inputs with NumPy (sums, stacks, the
all_to_all transpose) and asserts there; the outcome of each check ("ok", "skip: why" or the
traceback) goes to ``OUT/CASE.RANK.json``, which the test reads. A failing check may leave the
other ranks waiting in a collective: the groups' timeout (20 s) turns that into an error, not a
hang. The checks live in _mpi_more_tensor.py, _mpi_more_p2p.py, _mpi_more_groups.py and
_mpi_more_single.py.
"""

import json
import os
import sys
import traceback

import _mpi_more_common as common
import _mpi_more_groups as g
import _mpi_more_p2p as p
import _mpi_more_single as s
import _mpi_more_tensor as t

import pydlk.distributed as dist

CASES = {
    "tensor": [
        t.reduce_every_op_and_dst,
        t.reduce_group_dst_tensor_noncontiguous_async,
        t.gather_to_each_dst,
        t.scatter_from_each_src,
        t.reduce_scatter_list,
        t.reduce_scatter_single_cat_and_stack,
        t.all_gather_single_cat_and_stack,
        t.all_to_all_lists_uneven,
        t.all_to_all_single_even_is_a_transpose,
        t.all_to_all_single_uneven_splits,
        t.all_to_all_single_mismatch_raises_everywhere,
        t.broadcast_group_src_and_world_group,
        t.async_is_completed_finishes_the_work,
    ],
    "objects_p2p": [
        p.all_gather_object_every_rank,
        p.gather_object_to_dst,
        p.broadcast_object_list_from_src,
        p.broadcast_object_list_length_mismatch_raises_on_that_rank,
        p.scatter_object_list_from_src,
        p.send_recv_ring,
        p.recv_from_any_rank_returns_the_sender,
        p.tags_select_the_message,
        p.send_to_self_refused_isend_to_self_allowed,
        p.batch_isend_irecv_both_directions,
        p.send_recv_object_list,
        p.recv_size_mismatch_raises_on_the_receiver,
    ],
    "groups": [
        g.new_group_members_and_non_members,
        g.collectives_on_a_subgroup,
        g.ddp_and_sync_batchnorm_on_a_subgroup,
        g.unsorted_whole_and_local_groups,
        g.new_subgroups_of_one,
        g.new_group_with_other_ranks_raises_everywhere,
        g.world_names_and_backend,
    ],
    "faults": [
        g.monitored_barrier_names_the_late_rank,
        g.timeout_names_a_rank_waiting_in_another_group,
    ],
    "init": [g.init_checks_stated_sizes_and_ranks],
    "single": [
        s.single_names_before_init,
        s.single_bad_tensor_arguments,
        s.single_bad_object_p2p_and_group_arguments,
        s.single_against_torch_gloo,
    ],
}


def main(out, case):
    """Run CASE's checks in order. After each, the ranks agree (on a communicator of their
    own, so a rank stuck in a failed check's collective only delays it by the groups'
    timeout) whether one failed; the first failure ends the run on every rank, so one broken
    check costs one timeout, not one per later check."""
    from mpi4py import MPI

    agree = MPI.COMM_WORLD.Dup()
    common.OUT[0] = out
    if case not in ("init", "single"):
        dist.init_process_group("gloo", timeout=20)
    results = {}
    failed = False
    for fn in CASES[case]:
        if failed:
            results[fn.__name__] = "not run: an earlier check failed"
            continue
        try:
            fn()
            results[fn.__name__] = "ok"
        except common.Skip as e:
            results[fn.__name__] = f"skip: {e}"
        except Exception:  # noqa: BLE001  (reported to the test)
            results[fn.__name__] = traceback.format_exc()
        failed = agree.allreduce(results[fn.__name__].startswith("Traceback"), op=MPI.LOR)
    rank = MPI.COMM_WORLD.Get_rank()
    with open(os.path.join(out, f"{case}.{rank}.json"), "w") as f:
        json.dump(results, f)
    if failed:  # collectives may be left unfinished: leave without finalising MPI
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    agree.Free()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
