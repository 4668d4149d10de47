"""Give models built on the meta device their storage: random init or a state dict.

The recipe the design asks for: construct on the meta device (free at any size), allocate every
parameter once in the target dtype, then initialise each value once from a private ``torch.Generator`` seeded per call.
There is never an fp32 copy on the way to bf16, the global RNG is never read nor moved, and
nothing here patches a global: builds in other threads are unaffected, and do not affect it.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .memory import check_fits

# Factories whose storage a constructor never reads before filling it: parameters are made
# with them (``Parameter(torch.empty(...))``), computed buffers are not (arange, zeros, ones).
_UNINITIALISED_FACTORIES = frozenset({torch.empty, torch.empty_strided})


# In-place fills, by name: the ``nn.init`` functions and the tensor methods they end in (matched by
# name because transformers swaps guarded versions into ``torch.nn.init`` while it initialises).
# On a meta tensor each is a no-op that returns the tensor, but one costs as much as a small real
# fill (torch's Python reference kernels), and constructors run one or two per parameter: they
# were two thirds of building ResNet-152 or BERT-large on meta.
_FILLS = frozenset(
    {
        *(name for name in dir(nn.init) if name.endswith("_") and not name.startswith("_")),
        *("normal_", "uniform_", "zero_", "fill_", "copy_", "random_", "bernoulli_", "exponential_"),
        *("geometric_", "cauchy_", "log_normal_"),
    }
)


def _fills_meta(func, args, kwargs) -> bool:
    target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
    return isinstance(target, torch.Tensor) and target.is_meta and getattr(func, "__name__", None) in _FILLS


class _NoFillsOnMeta(TorchFunctionMode):
    """Skips every in-place fill of a meta tensor: it holds no values, so nothing is lost, and no
    generator is read (the fill of a meta tensor never draws). Real tensors are filled as usual."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        if _fills_meta(func, args, kwargs):
            return args[0] if args else kwargs.get("tensor", kwargs.get("self"))
        return func(*args, **kwargs)


class _UninitialisedOnMeta(_NoFillsOnMeta):
    """``torch.empty`` gives meta tensors, every other factory real ones. A torch function mode,
    like ``torch.device("meta")`` itself: it lives on this thread's mode stack only."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        if func in _UNINITIALISED_FACTORIES:
            return func(*args, **{**(kwargs or {}), "device": "meta"})
        return super().__torch_function__(func, types, args, kwargs)


@contextlib.contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Build modules with their parameters on the meta device, leaving computed buffers real.

    Buffers that a module computes in ``__init__`` (anchors, index tables, BatchNorm statistics)
    keep their values, so a generic init pass need only fill the parameters. Only this thread is
    affected (a torch function mode, no patched global). Use :func:`construct_on_meta`, which also
    moves to meta the few parameters a constructor makes with ``zeros``/``ones``.
    """
    with _UninitialisedOnMeta():
        yield


def _parameters_to_meta_(model: nn.Module) -> None:
    moved: dict[int, nn.Parameter] = {}
    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is None or param.is_meta:
                continue
            if id(param) not in moved:  # tied parameters stay tied
                moved[id(param)] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
            module._parameters[name] = moved[id(param)]


# The in-place and factory draws of torch; under :class:`_PrivateGenerator` each takes the private
# generator, so no draw touches (or depends on) the process-wide one. The ``nn.init`` functions
# that dispatch torch functions themselves are caught whole (their inner draws would run with the
# mode off); the others reach the tensor methods below.
_RANDOM = frozenset(
    {
        torch.Tensor.normal_,
        torch.Tensor.uniform_,
        torch.Tensor.random_,
        torch.Tensor.bernoulli_,
        torch.Tensor.exponential_,
        torch.Tensor.geometric_,
        torch.Tensor.cauchy_,
        torch.Tensor.log_normal_,
        torch.normal,
        torch.rand,
        torch.randn,
        torch.randint,
        torch.randperm,
        torch.bernoulli,
        torch.multinomial,
        torch.poisson,
        torch.rand_like,
        torch.randn_like,
        torch.randint_like,
    }
)


class _PrivateGenerator(TorchFunctionMode):
    """Every random draw on this thread uses ``generator`` unless the caller passed one."""

    def __init__(self, generator: torch.Generator) -> None:
        super().__init__()
        self.generator = generator

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        # Also any function handed a ``generator=None`` explicitly: ``nn.init`` forwards its own
        # that way, to whatever ``torch.nn.init.normal_`` is at the time (transformers swaps in
        # guarded versions while it initialises).
        if kwargs.get("generator") is None and (func in _RANDOM or "generator" in kwargs):
            kwargs = {**kwargs, "generator": self.generator}
        return func(*args, **kwargs)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[torch.Generator]:
    """Draw every random value on this thread from a fresh ``torch.Generator`` seeded with ``seed``.

    The values equal those of ``torch.manual_seed(seed)`` followed by the same draws, but the
    global generator is neither read nor moved, so other threads drawing at the same time change
    nothing here, and nothing here changes them.
    """
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    with _PrivateGenerator(generator):
        yield generator


def count_parameters(model: nn.Module) -> int:
    """Parameters counted once each, tied ones included once (as ``numel`` over unique tensors)."""
    return sum(p.numel() for p in model.parameters())


def materialize_(model: nn.Module, dtype: torch.dtype | None, device: str = "cpu") -> nn.Module:
    """Give every meta tensor uninitialised storage, floating ones in ``dtype``; cast real buffers.

    Tied parameters stay tied: each distinct meta tensor is allocated once.
    """
    target = _check_fits_in(model, dtype)
    allocated: dict[int, torch.Tensor] = {}

    def fresh(tensor: torch.Tensor) -> torch.Tensor:
        key = id(tensor)
        if key not in allocated:
            want = target if tensor.is_floating_point() else tensor.dtype
            if tensor.device.type == "meta":
                allocated[key] = torch.empty(tensor.shape, dtype=want, device=device)
            else:
                allocated[key] = tensor.to(device=device, dtype=want)
        return allocated[key]

    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is None:
                continue
            key = id(param)
            if key not in allocated:
                allocated[key] = nn.Parameter(fresh(param), requires_grad=param.requires_grad)
                allocated[id(allocated[key])] = allocated[key]
            module._parameters[name] = allocated[key]
        for name, buf in list(module._buffers.items()):
            if buf is not None:
                module._buffers[name] = fresh(buf)
    return model


def _check_fits_in(model: nn.Module, dtype: torch.dtype | None) -> torch.dtype:
    """The floating dtype ``model``'s parameters get (``dtype``, else torch's default), after the
    memory guard has agreed that they fit in it."""
    target = dtype or torch.get_default_dtype()
    nbytes = sum(
        p.numel() * (target.itemsize if p.is_floating_point() else p.element_size())
        for p in _unique(model.parameters())
    )
    check_fits(nbytes, f"{type(model).__name__} in {target}")
    return target


def _unique(tensors) -> list[torch.Tensor]:
    seen: dict[int, torch.Tensor] = {}
    for t in tensors:
        seen.setdefault(id(t), t)
    return list(seen.values())


@torch.no_grad()
def default_init_(model: nn.Module) -> None:
    """One pass over every parameter, the torchvision/timm recipe for convolutional networks.

    Convolutions: Kaiming normal (fan_out, ReLU gain), zero bias. Modules with their own
    ``reset_parameters`` (Linear, norms, embeddings) use it, which also resets BatchNorm running
    statistics. Any other parameter, such as a learned token or position table, gets N(0, 0.02).
    """
    for module in model.modules():
        direct = [p for p in module._parameters.values() if p is not None]
        if isinstance(module, nn.modules.conv._ConvNd):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif hasattr(module, "reset_parameters") and (direct or module._buffers):
            module.reset_parameters()
        else:
            for param in direct:
                nn.init.normal_(param, std=0.02)


def build_random(
    construct: Callable[[], nn.Module],
    *,
    dtype: torch.dtype | None,
    seed: int = 0,
    init: Callable[[nn.Module], None] = default_init_,
    buffers_on_meta: bool = False,
    device: str = "cpu",
) -> nn.Module:
    """Construct on meta, materialise in ``dtype`` on ``device``, run ``init`` once under ``seed``.

    ``buffers_on_meta=True`` builds everything under the meta device; use it when ``init`` also
    fills the buffers (Hugging Face ``initialize_weights`` does). Otherwise buffers are built for
    real by the constructor and only parameters start on meta.
    """
    model = construct_on_meta(construct, buffers_on_meta=buffers_on_meta)
    if device == "meta":
        return model.to(dtype) if dtype is not None else model
    materialize_(model, dtype, device=device)
    with seeded(seed):
        init(model)
    return model


def construct_on_meta(construct: Callable[[], nn.Module], *, buffers_on_meta: bool = True) -> nn.Module:
    """The architecture with no storage at all: parameter counts and shapes, at any size, instantly."""
    # All of these contexts are torch function modes: thread-local, no patched global.
    with contextlib.ExitStack() as stack:
        if buffers_on_meta:
            stack.enter_context(torch.device("meta"))
            stack.enter_context(_NoFillsOnMeta())
        else:
            stack.enter_context(parameters_on_meta())
        # A constructor may fill a parameter it made from a real factory (torchvision's Swin:
        # trunc_normal_ of a torch.zeros table) before it goes to meta: those draws, discarded with
        # the values, come from a private generator, never the global one.
        stack.enter_context(seeded(0))
        model = construct()
    if not buffers_on_meta:
        _parameters_to_meta_(model)
    return model


def build_from_state_dict(
    construct: Callable[[], nn.Module],
    state: dict[str, torch.Tensor],
    *,
    dtype: torch.dtype | None,
    origin: str,
) -> nn.Module:
    """Construct with parameters on meta and make ``state``'s tensors the model's own (see
    :func:`assign_state_dict_`); a ``state`` that does not fit the model is a CorruptWeightsError."""
    from .files import check_state_dict_keys

    model = construct_on_meta(construct, buffers_on_meta=False)
    check_state_dict_keys(model, state, origin=origin)
    return assign_state_dict_(model, state, dtype=dtype)


def assign_state_dict_(model: nn.Module, state: dict[str, torch.Tensor], *, dtype: torch.dtype | None) -> nn.Module:
    """Make ``state``'s tensors the parameters and persistent buffers of ``model``, built by
    :func:`construct_on_meta` with ``buffers_on_meta=False`` and with its keys already checked.

    No init pass, no fp32 model and no second copy: a tensor already in the target dtype becomes
    the parameter as it is (a safetensors file's tensors are not copied again), another is cast
    once. Buffers are built for real by the constructor, so the non-persistent ones a checkpoint
    does not hold (position ids, RoPE frequencies) are right; the persistent ones come from
    ``state``. Tied parameters stay tied.
    """
    target = _check_fits_in(model, dtype)

    def cast(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(target) if tensor.is_floating_point() and tensor.dtype != target else tensor

    names: dict[int, list[tuple[nn.Module, str, str]]] = {}  # parameter -> (module, attribute, key)
    for prefix, module in model.named_modules():
        for name, param in module._parameters.items():
            if param is not None:
                names.setdefault(id(param), []).append((module, name, f"{prefix}.{name}" if prefix else name))
        for name, buffer in module._buffers.items():
            if buffer is None:
                continue
            key = f"{prefix}.{name}" if prefix else name
            module._buffers[name] = cast(state[key]) if key in state else cast(buffer)
    for places in names.values():
        key = next(k for _, _, k in places if k in state)  # a tied tensor is saved under one alias
        old = places[0][0]._parameters[places[0][1]]
        param = nn.Parameter(cast(state[key]), requires_grad=old.requires_grad)
        for module, name, _ in places:
            module._parameters[name] = param
    return model


__all__ = [
    "assign_state_dict_",
    "build_from_state_dict",
    "build_random",
    "construct_on_meta",
    "count_parameters",
    "default_init_",
    "materialize_",
    "parameters_on_meta",
    "seeded",
]
