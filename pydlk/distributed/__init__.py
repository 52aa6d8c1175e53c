"""Synchronous data-parallel training over MPI with torch.distributed's names.

Launch with ``mpiexec -n N python train.py`` (needs ``pip install 'pydlk[mpi]'``)::

    import pydlk.distributed as dist
    dist.init_process_group("mpi")  # or "gloo"/"nccl": the same transports
    model = pydlk.nn.parallel.DistributedDataParallel(model)
    sampler = pydlk.data.DistributedSampler(dataset)

The collectives (``collectives``, ``tensor_collectives``), object collectives
(``object_collectives``), point-to-point transfers (``p2p``) and groups (``groups``) follow
torch 2.13's signatures; docs/DISTRIBUTED.md has the table of what is supported.
mpi4py is imported only by ``init_process_group``.
"""

from .backend import (  # noqa: F401
    Backend,
    DistBackendError,
    DistError,
    DistNetworkError,
    DistStoreError,
    get_default_backend_for_device,
    is_backend_available,
    is_gloo_available,
    is_nccl_available,
    is_torchelastic_launched,
)
from .collectives import (  # noqa: F401
    ReduceOp,
    Work,
    all_gather,
    all_reduce,
    barrier,
    broadcast,
    monitored_barrier,
)
from .groups import (  # noqa: F401
    get_global_rank,
    get_group_rank,
    get_process_group_ranks,
    group,
    new_group,
    new_subgroups,
)
from .object_collectives import (  # noqa: F401
    all_gather_object,
    broadcast_object_list,
    gather_object,
    recv_object_list,
    scatter_object_list,
    send_object_list,
)
from .p2p import P2POp, batch_isend_irecv, irecv, isend, recv, send  # noqa: F401
from .process_group import (  # noqa: F401
    GroupMember,
    ProcessGroup,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
)
from .tensor_collectives import (  # noqa: F401
    all_gather_into_tensor,
    all_gather_single,
    all_to_all,
    all_to_all_single,
    gather,
    reduce,
    reduce_scatter,
    reduce_scatter_single,
    reduce_scatter_tensor,
    scatter,
)
