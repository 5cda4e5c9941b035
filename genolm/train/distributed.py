"""The one place that knows about devices, processes and wrapping: torchrun environment, DDP /
FSDP2, ``torch.compile``.  Models stay single-device code (torchtitan's rule); this module wraps
them from outside: compile, then DDP; or FSDP2's sharding, then compile (its hooks must sit on
the real blocks).

Launch many processes with ``torchrun --nproc-per-node N -m genolm.cli pretrain …``; each reads
RANK / WORLD_SIZE / LOCAL_RANK from the environment, uses NCCL on GPUs and gloo on CPUs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist

from genolm.errors import GenolmError


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def resolve_device(device: str | None = "auto") -> str:
    """The device a ``--device`` value names on this machine, or one line saying why not.

    ``auto`` (or None) is the GPU when one is visible, else the CPU; ``cpu``, ``cuda`` and
    ``cuda:N`` are checked against what the machine has, before any work is done.

    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("gpu")
    Traceback (most recent call last):
    genolm.errors.GenolmError: unknown --device (expected auto | cpu | cuda | cuda:N, found 'gpu')
    """
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    match = re.fullmatch(r"cuda(?::(\d+))?", device)
    if device != "cpu" and match is None:
        raise GenolmError("unknown --device", expected="auto | cpu | cuda | cuda:N", found=repr(device))
    if match is not None:
        if not torch.cuda.is_available():
            raise GenolmError(f"--device {device} asked for, but no GPU is visible on this machine",
                              hint="use --device cpu (or auto, which picks a GPU when there is one)")
        if match.group(1) is not None and int(match.group(1)) >= torch.cuda.device_count():
            n = torch.cuda.device_count()
            raise GenolmError("no such GPU", found=device, expected=f"cuda:0 to cuda:{n - 1}")
    return device


def autocast(device: str, dtype: "torch.dtype | str | None" = "auto"):
    """The one precision context of training and inference: ``"auto"`` is bf16 autocast on a GPU
    and full precision on the CPU; ``None`` is full precision; a dtype autocasts to it.

    >>> with autocast("cpu"):
    ...     torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype
    torch.float32
    """
    import contextlib

    if dtype == "auto":
        dtype = torch.bfloat16 if str(device).startswith("cuda") else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda" if str(device).startswith("cuda") else "cpu", dtype=dtype)


def setup(device: str = "auto") -> Dist:
    """Read the torchrun environment, pick the device, start the process group if needed."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device)
    if device.startswith("cuda"):
        index = local if device == "cuda" else int(device.split(":")[1])  # torchrun: one GPU a rank
        torch.cuda.set_device(index)
        device = f"cuda:{index}"
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return Dist(rank, world, local, device)


def teardown() -> None:
    """Leave together: a rank that tears down while rank 0 still writes the last checkpoint can
    abort the process group under the others."""
    if dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def compiled(fn, *, dynamic: bool | None = None):
    """``torch.compile`` of a model or a step, made here for every caller (training, embedding,
    decoding), so there is one place to set how genolm compiles."""
    return torch.compile(fn, dynamic=dynamic)


def wrap(model: torch.nn.Module, d: Dist, *, strategy: str = "ddp", compile: bool = False) -> torch.nn.Module:
    """DDP: compile (optional), then wrap; FSDP2: shard in place, then compile; one process: the
    model itself (compiled if asked).  Build the optimizer after this: FSDP2 replaces parameters."""
    if strategy not in ("ddp", "fsdp", "none"):
        raise GenolmError("unknown --parallel strategy", expected="ddp | fsdp | none", found=strategy)
    if d.enabled and strategy == "fsdp":
        # FSDP2 shards the plain module in place (each block, then the rest), and the sharded
        # module is compiled: fully_shard's hooks must sit on the real blocks, not on a wrapper
        from torch.distributed.fsdp import fully_shard

        for block in _blocks(model):
            fully_shard(block)
        fully_shard(model)
        return compiled(model) if compile else model
    if compile:
        model = compiled(model)
    if not d.enabled or strategy == "none":
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[d.local_rank] if d.device.startswith("cuda") else None)


def _blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The repeated layers of a model, the unit FSDP shards by."""
    for module in model.modules():
        for name in ("blocks", "layers"):
            seq = getattr(module, name, None)
            if isinstance(seq, torch.nn.ModuleList) and len(seq):
                return list(seq)
    return []


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model under DDP / compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


def full_state_dict(model: torch.nn.Module) -> dict:
    """The whole model's weights on CPU (gathers FSDP shards; every rank must call it)."""
    base = unwrap(model)
    if any(type(p).__name__ == "DTensor" for p in base.parameters()):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {k: v.detach().cpu() for k, v in base.state_dict().items()}


def _sharded(model: torch.nn.Module) -> bool:
    return any(type(p).__name__ == "DTensor" for p in unwrap(model).parameters())


def full_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The optimizer's whole state for a checkpoint (every rank must call it).  Under FSDP the
    shards are gathered into one state keyed by parameter name (rank 0 holds it); otherwise it
    is ``optimizer.state_dict()``."""
    if not _sharded(model):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(unwrap(model), optimizer,
                                    options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load what :func:`full_optimizer_state` saved, into a sharded or a plain model's optimizer
    (a run saved under FSDP resumes on one process, and the other way round)."""
    by_name = any(isinstance(k, str) for k in state.get("state", {}))
    if not by_name and not _sharded(model):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_optimizer_state_dict,
                                                         set_optimizer_state_dict)

    if not by_name:  # ids to names: the same model's plain state as the one just built would give
        template = get_optimizer_state_dict(unwrap(model), optimizer, options=StateDictOptions(full_state_dict=True))
        names = [n for g in template["param_groups"] for n in g["params"]]
        ids = [i for g in state["param_groups"] for i in g["params"]]
        key = dict(zip(ids, names))
        state = {"state": {key[i]: v for i, v in state["state"].items()},
                 "param_groups": [{**g, "params": [key[i] for i in g["params"]]} for g in state["param_groups"]]}
    set_optimizer_state_dict(unwrap(model), optimizer, optim_state_dict=state,
                             options=StateDictOptions(full_state_dict=True))


def all_sum(values: list[float], d: Dist) -> list[float]:
    """Sum floats over ranks (evaluation totals)."""
    if not d.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return t.tolist()
