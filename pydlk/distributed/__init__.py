"""Synchronous data-parallel training over MPI with torch.distributed's names.

Launch with ``mpiexec -n N python train.py`` (needs ``pip install 'pydlk[mpi]'``)::

    import pydlk.distributed as dist
    dist.init_process_group("mpi")
    model = pydlk.nn.parallel.DistributedDataParallel(model)
    sampler = pydlk.data.DistributedSampler(dataset)

mpi4py is imported only by ``init_process_group``.
"""

from .collectives import ReduceOp, Work, all_gather, all_reduce, barrier, broadcast  # noqa: F401
from .process_group import (  # noqa: F401
    GroupMember,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
)
