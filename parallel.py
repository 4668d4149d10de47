"""Tensor parallelism: mesh shapes, shard specs, and applying a spec with torch.distributed.

A *shard spec* maps each parameter name (as ``model.named_parameters()`` gives it, tied tensors
once) to one entry per tensor dimension: the mesh axis that dimension is split over, or ``None``.
For a Linear weight, which is ``(out_features, in_features)``:

- ``("model", None)``: column-parallel; each device computes a slice of the output features.
- ``(None, "model")``: row-parallel; each device takes a slice of the input features and the
  partial outputs are summed across the axis.
- all ``None``: replicated.

A mixture of experts stacks its experts' weights in 3-D parameters (transformers' fused
``experts.gate_up_proj`` ``(experts, 2 * intermediate, hidden)`` and ``experts.down_proj``):
``("model", None, None)`` splits whole experts over the axis (expert parallelism; the router stays
replicated, each device computes its own experts' share and the shares are summed).

Loaders build specs with :func:`transformer_shard_spec` and meshes with :func:`mesh_config`.
:func:`parallelize` applies a spec with DTensor (``ColwiseParallel``/``RowwiseParallel``), so a
frontend's compiler and this repository's own CPU test read the same spec. Only the standard library
is imported at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

BATCH_AXIS = "batch"
MODEL_AXIS = "model"
AXES = (BATCH_AXIS, MODEL_AXIS)

ShardSpec = dict[str, tuple[str | None, ...]]


def check_num_devices(num_devices: Any) -> int:
    from .validation import check_int

    return check_int("num_devices", num_devices, minimum=1)


def mesh_config(
    num_devices: int,
    *,
    divides: Mapping[str, int],
    batch_rows: int = 1,
    batch_rows_from: int | None = None,
) -> tuple[tuple[int, int], tuple[str, str]]:
    """``((batch, model), ("batch", "model"))`` for ``num_devices``.

    The model axis must divide every count in ``divides`` (attention heads, KV heads), since each
    device holds whole heads. With ``batch_rows_from`` set, ``num_devices`` of at least that many
    (and a multiple of ``batch_rows``) form ``batch_rows`` rows, so a very large model is split
    across a 2-D mesh: tensor parallel along a row, data parallel down the columns.
    """
    n = check_num_devices(num_devices)
    shape = _shape(n, batch_rows, batch_rows_from)
    bad = {name: count for name, count in divides.items() if count % shape[1]}
    if bad:
        valid = [
            k for k in range(1, 257) if not any(c % _shape(k, batch_rows, batch_rows_from)[1] for c in divides.values())
        ]
        raise ValueError(
            f"num_devices={n} gives a mesh of {shape} whose model axis ({shape[1]}) does not divide "
            + ", ".join(f"{name}={count}" for name, count in divides.items())
            + f"; valid num_devices: {', '.join(map(str, valid))}"
        )
    return shape, AXES


def _shape(n: int, rows: int, rows_from: int | None) -> tuple[int, int]:
    if rows > 1 and rows_from is not None and n >= rows_from and n % rows == 0:
        return rows, n // rows
    return 1, n


def transformer_shard_spec(
    model: "nn.Module",
    *,
    column: Iterable[str] = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"),
    row: Iterable[str] = ("o_proj", "down_proj"),
    output_column: Iterable[str] = ("lm_head",),
    expert: Iterable[str] = (),
) -> ShardSpec:
    """The Megatron split of a transformer: every parameter named, by the end of its module name.

    Each name in ``column``, ``row`` and ``output_column`` is the last part (``q_proj``) or the last
    few parts (``intermediate.dense``) of module names. ``column`` Linears are column-parallel,
    ``row`` Linears row-parallel (their bias, added after the sum, replicated). ``output_column``
    (the vocabulary projection) is column-parallel too, unless it is tied to the embedding: tied
    weights appear under the embedding's name only and are replicated, because one tensor cannot
    be split two ways. Embeddings and norms are replicated: they are small next to the layers, and
    a replicated embedding needs no collective before the first layer. A fused projection (one
    ``qkv`` Linear whose output is reshaped per head) must not be named: a contiguous slice of its
    rows is not a set of whole heads. ``expert`` names stacked expert weights by the end of their
    *parameter* names (``experts.gate_up_proj``): their first dimension, the experts, is split
    (expert parallelism). Splitting inside an expert is not offered: a fused ``gate_up_proj``
    holds the gate rows then the up rows, so a contiguous slice is not a matching pair of them.
    """
    column, row, output_column, expert = set(column), set(row), set(output_column), set(expert)
    spec: ShardSpec = {}
    for name, param in model.named_parameters():
        module_name, _, kind = name.rpartition(".")
        is_column = _ends_with_any(module_name, column | output_column)
        if param.dim() >= 2 and _ends_with_any(name, expert):
            spec[name] = (MODEL_AXIS,) + (None,) * (param.dim() - 1)
        elif kind == "weight" and param.dim() == 2 and is_column:
            spec[name] = (MODEL_AXIS, None)
        elif kind == "bias" and is_column:
            spec[name] = (MODEL_AXIS,)
        elif kind == "weight" and param.dim() == 2 and _ends_with_any(module_name, row):
            spec[name] = (None, MODEL_AXIS)
        else:
            spec[name] = (None,) * param.dim()
    return spec


def _ends_with_any(module_name: str, suffixes: set[str]) -> bool:
    """Whether the module name's last dotted parts are one of ``suffixes`` (whole parts only:
    ``output.dense`` matches ``attention.output.dense``, ``dense`` does not match ``xdense``)."""
    return any(module_name == s or module_name.endswith("." + s) for s in suffixes)


STRATEGIES = ("megatron", "fsdp")


def strategy_shard_spec(
    model: "nn.Module", *, strategy: str = "megatron", batch_axis: str = BATCH_AXIS, **names: Iterable[str]
) -> ShardSpec:
    """The shard spec of ``strategy`` over a ``(batch_axis, "model")`` mesh.

    ``"megatron"``: :func:`transformer_shard_spec`. ``"fsdp"``: the same, with the last dimension
    that it leaves whole split over ``batch_axis`` as well, so each weight is spread over the
    whole mesh: column-parallel ``("model", batch_axis)``, row-parallel ``(batch_axis, "model")``,
    embeddings ``(None, batch_axis)``, norms ``(batch_axis,)``, as upstream's Llama loader
    writes them; stacked experts ``("model", None, batch_axis)``. ``names`` pass ``column=``,
    ``row=``, ``output_column=``, ``expert=`` through.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown sharding strategy {strategy!r}; accepted: {', '.join(map(repr, STRATEGIES))}")
    if not isinstance(batch_axis, str) or not batch_axis or batch_axis == MODEL_AXIS:
        raise ValueError(f"batch_axis must be a mesh axis name other than {MODEL_AXIS!r}, got {batch_axis!r}")
    spec = transformer_shard_spec(model, **names)
    if strategy == "megatron":
        return spec
    fsdp: ShardSpec = {}
    for name, placement in spec.items():
        whole = [i for i, axis in enumerate(placement) if axis is None]
        if whole:
            placement = tuple(batch_axis if i == whole[-1] else axis for i, axis in enumerate(placement))
        fsdp[name] = placement
    return fsdp


def by_tensor(model: "nn.Module", spec: ShardSpec | None) -> dict[Any, tuple[str | None, ...]] | None:
    """``spec`` keyed by ``model``'s parameter tensors instead of their names (upstream's form of a
    shard spec, which ``torch_xla``'s ``mark_sharding`` takes tensor by tensor)."""
    if spec is None:
        return None
    params = dict(model.named_parameters())
    unknown = sorted(set(spec) - set(params))
    if unknown:
        raise ValueError(f"shard spec names parameters the model does not have: {', '.join(unknown[:5])}")
    return {params[name]: placement for name, placement in spec.items()}


def tensor_parallel_plan(model: "nn.Module", spec: ShardSpec) -> dict[str, Any]:
    """The DTensor plan (module name to ``ColwiseParallel``/``RowwiseParallel``) of ``spec``.

    A column-parallel module with a row-parallel one after it (q/k/v before o_proj, gate/up
    before down_proj, a ViT's ``intermediate.dense`` before its ``output.dense``) keeps its output
    split, as the row-parallel one expects. A column-parallel module with none after it (the
    vocabulary projection) gathers its output, since nothing reassembles the pieces.
    """
    from torch.distributed.tensor import Replicate
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel

    modules = dict(model.named_modules())
    column, row = [], []
    for name, placement in spec.items():
        module_name, _, kind = name.rpartition(".")
        if any(axis not in (None, *AXES) for axis in placement):
            raise ValueError(f"shard spec of {name!r} names an unknown axis: {placement}; axes: {AXES}")
        if kind not in ("weight", "bias") and MODEL_AXIS in placement:
            raise ValueError(
                f"shard spec of {name!r} is {placement}: DTensor's module plans split Linear weights "
                "only, not stacked expert weights (expert parallelism); give those placements to a "
                "compiler that takes a sharding per tensor (torch_xla's mark_sharding), or keep them replicated"
            )
        if kind != "weight" or module_name not in modules or all(axis is None for axis in placement):
            continue
        if placement == (MODEL_AXIS, None):
            column.append(module_name)
        elif placement == (None, MODEL_AXIS):
            row.append(module_name)
        else:
            raise ValueError(
                f"shard spec of {name!r} is {placement}; tensor parallelism supports "
                f"({MODEL_AXIS!r}, None), (None, {MODEL_AXIS!r}) or replicated"
            )
    order = {name: index for index, name in enumerate(modules)}
    last_row = max((order[name] for name in row), default=-1)
    plan: dict[str, Any] = {name: RowwiseParallel() for name in row}
    for name in column:
        keeps_split = order[name] < last_row
        plan[name] = ColwiseParallel() if keeps_split else ColwiseParallel(output_layouts=Replicate())
    return plan


def parallelize(model: "nn.Module", spec: ShardSpec, mesh: Any) -> "nn.Module":
    """Shard ``model`` in place over the ``model`` axis of ``mesh`` (a ``DeviceMesh``).

    Every process must hold the same full weights (same seed or checkpoint) before the call; each
    keeps its own slices. The ``batch`` axis, when larger than 1, is data parallel: give each row
    of the mesh its own share of the batch.
    """
    from torch.distributed.tensor.parallel import parallelize_module

    names = mesh.mesh_dim_names or ()
    tp_mesh = mesh[MODEL_AXIS] if MODEL_AXIS in names and mesh.ndim > 1 else mesh
    return parallelize_module(model, tp_mesh, tensor_parallel_plan(model, spec))


def init_mesh(shape: tuple[int, ...], names: tuple[str, ...] = AXES, device_type: str = "cpu") -> Any:
    """A ``DeviceMesh`` over the already-initialised default process group."""
    from torch.distributed.device_mesh import init_device_mesh

    return init_device_mesh(device_type, tuple(shape), mesh_dim_names=tuple(names))


__all__ = [
    "AXES",
    "BATCH_AXIS",
    "MODEL_AXIS",
    "STRATEGIES",
    "ShardSpec",
    "by_tensor",
    "check_num_devices",
    "init_mesh",
    "mesh_config",
    "parallelize",
    "strategy_shard_spec",
    "tensor_parallel_plan",
    "transformer_shard_spec",
]
