"""``JaxLoader``: a family's network as our own Flax linen code, with the PyTorch loader's weights.

``load_model`` builds the PyTorch model with the family's PyTorch loader (same ``weights=``,
``seed=``, ``num_layers=``, so pretrained, mirrored, local and seeded random weights all arrive the
same way), converts its state dict with the family's rules (:mod:`.flax_weights`) and returns the
linen module; the variables are kept on the loader (:meth:`get_input_parameters`). A family writes
two hooks: :meth:`flax_module` and :meth:`conversion`.

The methods tt-xla's ``DynamicJaxModelTester`` looks for are here: ``get_input_parameters(train=)``,
``get_forward_method_name``, ``get_forward_method_args``, ``get_forward_method_kwargs(train=)``,
``get_static_argnames`` and ``wrapper_model``: the forward is ``module.apply(variables, **inputs,
train=...)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..base import _class_or_instance_method
from ..config import Framework
from .companion import CompanionLoader

#: names a caller may give a dtype by, besides jnp / numpy / torch dtype objects
_FLOATING = ("float32", "bfloat16", "float16")


def jax_dtype(dtype: Any) -> Any:
    """The numpy-style dtype (``jnp.bfloat16`` is one) for ``dtype_override``: ``None``, a jnp or
    numpy floating dtype, a torch floating dtype, or a name such as ``"bf16"``."""
    if dtype is None:
        return None
    import jax.numpy as jnp

    from ..inputs.dtypes import canonical_dtype_name

    if isinstance(dtype, str):
        name = canonical_dtype_name(dtype)
    elif type(dtype).__module__.startswith("torch"):
        name = str(dtype).removeprefix("torch.")
    else:
        try:
            if isinstance(dtype, (bytes, int, float, bool)) or dtype is ...:
                raise TypeError
            name = jnp.dtype(dtype).name
        except Exception:  # numpy parses some junk (b",") and raises SyntaxError
            kind = type(dtype).__name__
            raise TypeError(
                f"dtype_override must be a floating dtype (jnp.bfloat16, 'bf16', ...), got {kind} {dtype!r}"
            ) from None
    if name not in _FLOATING:
        raise ValueError(f"unsupported dtype {dtype!r}; accepted: " + ", ".join(f"jnp.{n}" for n in _FLOATING))
    return jnp.dtype(name)


def to_jax(obj: Any, dtype: Any = None) -> Any:
    """PyTorch inputs (a tensor, or dicts, lists and tuples of them) as jnp arrays: floating ones in
    ``dtype`` (kept when ``None``), integer ones int32 (JAX's default integer width) and bools kept."""
    import jax.numpy as jnp
    import numpy as np
    import torch

    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        if t.is_floating_point():
            array = jnp.asarray(t.float().numpy())
            return array.astype(dtype) if dtype is not None else array.astype(jnp.dtype(str(t.dtype)[6:]))
        if t.dtype == torch.bool:
            return jnp.asarray(t.numpy())
        return jnp.asarray(t.numpy().astype(np.int32))
    if isinstance(obj, dict):
        return {k: to_jax(v, dtype) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_jax(v, dtype) for v in obj)
    return obj


def to_torch(obj: Any) -> Any:
    """JAX outputs (arrays, or dicts, lists and tuples of them) as torch tensors (bf16 kept)."""
    import jax
    import numpy as np
    import torch

    if isinstance(obj, jax.Array):
        if obj.dtype.name == "bfloat16":
            return torch.from_numpy(np.array(obj.astype("float32"))).to(torch.bfloat16)
        return torch.from_numpy(np.array(obj))
    if isinstance(obj, dict):
        return {k: to_torch(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_torch(v) for v in obj)
    return obj


def count_params(variables: Any) -> int:
    """Elements in the ``params`` collection (what PyTorch counts as parameters; batch statistics are
    buffers there). Works on arrays and on ``jax.ShapeDtypeStruct`` leaves alike."""
    import math

    import jax

    return sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(variables.get("params", {})))


class JaxLoader(CompanionLoader):
    """Base of ``<model>/jax/loader.py``."""

    FRAMEWORK: ClassVar[Framework] = Framework.JAX
    EXTRA: ClassVar[str] = "jax"
    REQUIRES: ClassVar[tuple[str, ...]] = ("jax", "flax")
    COMPILER: ClassVar[str | None] = "jax.jit"

    def __init__(self, variant: Any = None) -> None:
        super().__init__(variant)
        #: the variables of the last :meth:`load_model` (``{"params": ..., "batch_stats": ...}``)
        self.variables: Any = None
        self._inputs: Any = None
        self._dtype: Any = None

    # ---- the family's hooks --------------------------------------------------------------------

    def flax_module(self, torch_model: Any) -> Any:
        """The linen module with the architecture of ``torch_model`` (a meta one when shape-only)."""
        raise NotImplementedError

    def conversion(self, torch_model: Any) -> tuple[Any, tuple[str, ...]]:
        """``(rules, skip)`` for :func:`.flax_weights.torch_to_flax` of ``torch_model``'s state dict."""
        raise NotImplementedError

    # ---- the contract --------------------------------------------------------------------------

    @_class_or_instance_method(on_default=True)
    def load_model(  # type: ignore[override]
        self,
        *,
        dtype_override: Any = None,
        weights: Any = None,
        seed: int = 0,
        device: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """The variant's linen module; its variables (every floating one in ``dtype_override``) are
        :attr:`variables`. ``weights``, ``seed`` and family keywords (``num_layers``) mean what they
        mean to the PyTorch loader. ``device="meta"`` builds shape-only variables
        (``jax.ShapeDtypeStruct`` leaves, from ``jax.eval_shape``) at any size."""
        self.require()
        import jax

        from .flax_weights import state_dict_to_numpy, torch_to_flax

        dtype = jax_dtype(dtype_override)
        if device not in (None, "cpu", "meta"):
            raise ValueError(f"device must be None, 'cpu' or 'meta' for a JAX loader, got {device!r}")
        shape_only = device == "meta"
        torch_model = self.torch_loader.load_model(
            weights=weights, seed=seed, device="meta" if shape_only else None, **kwargs
        )
        module = self.flax_module(torch_model)
        if shape_only:
            inputs = self.load_inputs()
            args, call_kwargs = self._call_args(inputs)
            shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), *args, **call_kwargs, train=False))
            variables = jax.tree_util.tree_map(
                lambda s: jax.ShapeDtypeStruct(s.shape, dtype if dtype is not None and _floating(s.dtype) else s.dtype),
                shapes,
            )
        else:
            rules, skip = self.conversion(torch_model)
            arrays = torch_to_flax(state_dict_to_numpy(torch_model), rules, skip=skip)
            del torch_model
            variables = jax.tree_util.tree_map(lambda a: _as_jax(a, dtype), arrays)
        self.variables, self._dtype = variables, dtype
        self.weights_source = self.torch_loader.weights_source
        return module

    @_class_or_instance_method(on_default=True)
    def load_inputs(self, *, dtype_override: Any = None, batch_size: int = 1, **kwargs: Any) -> Any:  # type: ignore[override]
        """The PyTorch loader's sample inputs as jnp arrays: floating ones in ``dtype_override``,
        integer ones int32. Kept for :meth:`get_forward_method_args`."""
        self.require()
        dtype = jax_dtype(dtype_override)
        inputs = to_jax(self.torch_loader.load_inputs(batch_size=batch_size, **kwargs), dtype)
        if isinstance(inputs, dict):  # PyTorch call flags (use_cache=True) are not inputs of a JAX forward
            inputs = {k: v for k, v in inputs.items() if not isinstance(v, (bool, type(None)))}
        self._inputs = inputs
        return inputs

    def decode_output(self, outputs: Any, **kwargs: Any) -> Any:
        """What the PyTorch loader's ``decode_output`` reads from the same outputs."""
        return self.torch_loader.decode_output(to_torch(outputs), **kwargs)

    def unpack_forward_output(self, output: Any) -> Any:
        """The array a training step differentiates: ``logits`` when there are some, else the first."""
        import jax

        if isinstance(output, dict):
            return output["logits"] if "logits" in output else next(iter(output.values()))
        return jax.tree_util.tree_leaves(output)[0] if isinstance(output, (list, tuple)) else output

    def call_model(self, model: Any, inputs: Any) -> Any:  # type: ignore[override]
        """The forward on ``inputs`` with the last loaded variables, waited for."""
        import jax

        return jax.block_until_ready(self.forward(model, inputs))

    def count_model_parameters(self, model: Any) -> int:
        return count_params(self.variables)

    def model_dtype(self, model: Any) -> str:
        import jax

        leaves = [a for a in jax.tree_util.tree_leaves(self.variables.get("params", {})) if _floating(a.dtype)]
        return leaves[0].dtype.name if leaves else ""

    def compiled(self, model: Any) -> Any:
        """``jax.jit`` of the forward: ``compiled(model)(inputs)`` is what ``bench --mode compile`` times."""
        import jax

        forward = jax.jit(lambda variables, args, kwargs: model.apply(variables, *args, **kwargs, train=False))

        def call(inputs: Any) -> Any:
            args, kwargs = self._call_args(inputs)
            return jax.block_until_ready(forward(self.variables, args, kwargs))

        return call

    # ---- what tt-xla's JAX tester calls --------------------------------------------------------

    def get_input_parameters(self, train: bool = False) -> Any:
        if self.variables is None:
            self.load_model()
        return self.variables

    def get_forward_method_name(self) -> str:
        return "apply"

    def get_forward_method_args(self) -> list[Any]:
        args, _ = self._call_args(self._current_inputs())
        return [self.get_input_parameters(), *args]

    def get_forward_method_kwargs(self, train: bool = False) -> dict[str, Any]:
        _, kwargs = self._call_args(self._current_inputs())
        kwargs = {**kwargs, "train": bool(train)}
        if train and "batch_stats" in (self.get_input_parameters() or {}):
            kwargs["mutable"] = ("batch_stats",)
        return kwargs

    def get_static_argnames(self) -> list[str]:
        return ["train", "mutable"] if "batch_stats" in (self.get_input_parameters() or {}) else ["train"]

    def wrapper_model(self, f: Any) -> Any:
        def model(args: Any, kwargs: Any) -> Any:
            out = f(*args, **kwargs)
            if kwargs.get("mutable"):
                out = out[0]  # (outputs, updated batch statistics)
            return self.unpack_forward_output(out)

        return model

    # ---- helpers ---------------------------------------------------------------------------------

    def forward(self, module: Any, inputs: Any = None, *, variables: Any = None, train: bool = False) -> Any:
        """``module.apply`` on ``inputs`` (the last loaded ones by default)."""
        args, kwargs = self._call_args(self._current_inputs() if inputs is None else inputs)
        return module.apply(self.variables if variables is None else variables, *args, **kwargs, train=train)

    def _current_inputs(self) -> Any:
        if self._inputs is None:
            self.load_inputs(dtype_override=self._dtype)
        return self._inputs

    @staticmethod
    def _call_args(inputs: Any) -> tuple[list[Any], dict[str, Any]]:
        return ([], dict(inputs)) if isinstance(inputs, dict) else ([inputs], {})


def _floating(dtype: Any) -> bool:
    import jax.numpy as jnp

    return jnp.issubdtype(dtype, jnp.floating)


def _as_jax(array: Any, dtype: Any) -> Any:
    import jax.numpy as jnp

    out = jnp.asarray(array)
    return out.astype(dtype) if dtype is not None and _floating(out.dtype) else out
