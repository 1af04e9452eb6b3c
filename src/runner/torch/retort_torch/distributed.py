"""torchrun support: process group, device per rank, DDP/FSDP wrapping, small collectives.

Under `torchrun --nproc_per_node N` every rank runs the same job; rank 0 alone writes events and
checkpoints and reads stdin, and shares stop/pause decisions with the others each step. Backend:
NCCL on CUDA, gloo on CPU (which is how the tests run two ranks on one machine).
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, Dict, List

import torch
import torch.distributed as dist
import torch.nn as nn


@dataclass
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def init_distributed() -> DistEnv:
    """Read torchrun's environment; join the process group when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and os.environ.get("RETORT_DEVICE", "") != "cpu"
    device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(minutes=30))
    return DistEnv(rank, world, local, device)


def shutdown(env: DistEnv) -> None:
    if env.active and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(env: DistEnv, values: List[float]) -> List[float]:
    if not env.active:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=env.device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_flags(env: DistEnv, flags: List[bool]) -> List[bool]:
    """Rank 0's flags on every rank (stop / pause read from rank 0's stdin)."""
    if not env.active:
        return flags
    t = torch.tensor([float(f) for f in flags], device=env.device)
    dist.broadcast(t, 0)
    return [bool(x) for x in t.tolist()]


def barrier(env: DistEnv) -> None:
    if env.active:
        dist.barrier()


def wrap_ddp(module: nn.Module, env: DistEnv, find_unused: bool) -> nn.Module:
    if not env.active:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP
    ids = [env.local_rank] if env.device.type == "cuda" else None
    return DDP(module, device_ids=ids, find_unused_parameters=find_unused)


def wrap_fsdp(module: nn.Module, env: DistEnv, layer_cls: type, bf16: bool) -> nn.Module:
    """Shard parameters, gradients and optimizer state across ranks, one unit per decoder layer."""
    if not env.active:
        return module
    import functools
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, MixedPrecision
        from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy
    except Exception as e:  # noqa: BLE001 - e.g. torch 1.13's FSDP does not import on Python 3.11
        raise RuntimeError(f"--fsdp: FSDP is unavailable in torch {torch.__version__} here ({type(e).__name__}: {e}); "
                           "run without --fsdp (DDP)") from e
    policy = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={layer_cls})
    kwargs: Dict[str, Any] = dict(auto_wrap_policy=policy,
                                  device_id=env.device if env.device.type == "cuda" else None)
    if bf16:
        kwargs["mixed_precision"] = MixedPrecision(param_dtype=torch.bfloat16, reduce_dtype=torch.float32,
                                                   buffer_dtype=torch.bfloat16)
    try:
        return FSDP(module, use_orig_params=True, **kwargs)  # torch >= 2.0: LoRA's frozen/trainable mix
    except TypeError:
        return FSDP(module, **kwargs)


def full_state_dict(module: nn.Module, env: DistEnv) -> Dict[str, torch.Tensor]:
    """The unsharded state on rank 0 (empty elsewhere); a plain or DDP module just gives its own."""
    inner = getattr(module, "module", module)
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, FullStateDictConfig, StateDictType
    except ImportError:  # pragma: no cover
        return inner.state_dict()
    if isinstance(module, FSDP):
        cfg = FullStateDictConfig(offload_to_cpu=True, rank0_only=True)
        with FSDP.state_dict_type(module, StateDictType.FULL_STATE_DICT, cfg):
            return module.state_dict()
    return inner.state_dict()


def full_optim_state_dict(module: nn.Module, optimizer: torch.optim.Optimizer) -> Dict[str, Any]:
    """The unsharded optimizer state on rank 0 (collective: every rank calls it)."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    if hasattr(FSDP, "optim_state_dict"):  # torch >= 2.0
        return FSDP.optim_state_dict(module, optimizer)
    return FSDP.full_optim_state_dict(module, optimizer)


def shard_optim_state_dict(full: Dict[str, Any], module: nn.Module, optimizer: torch.optim.Optimizer) -> Dict[str, Any]:
    """This rank's share of a full optimizer state, ready for optimizer.load_state_dict."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    if hasattr(FSDP, "optim_state_dict_to_load"):
        try:
            return FSDP.optim_state_dict_to_load(module, optimizer, full)  # torch >= 2.1
        except TypeError:
            return FSDP.optim_state_dict_to_load(full, module, optimizer)  # torch 2.0
    return FSDP.shard_full_optim_state_dict(full, module)


def unwrap(module: nn.Module) -> nn.Module:
    return getattr(module, "module", module)
