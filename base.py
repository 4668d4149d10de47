"""``ForgeModel``: the one contract every loader keeps.

The public methods are fixed here, with keyword-only arguments, so no loader's signature drifts:

- ``load_model(*, dtype_override=None, weights=None, seed=0, device=None, dropout=None, **kwargs)`` validates,
  applies the weights policy of :mod:`.weights` through the loader's :attr:`source`, puts the
  model in eval mode and records ``self.weights_source`` (where the weights came from).
- ``load_inputs(*, dtype_override=None, batch_size=1, **kwargs)`` validates, asks the loader's
  :meth:`_load_inputs` for the sample, and casts floating tensors (never integer ones).

A loader writes its variant table and ``_load_inputs``, and overrides the hooks it needs
(``_build_source`` only when its source is not a standard one; ``_get_model_info`` only when its
model is not named by its folder). Only the standard library is imported at module level.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from .config import Framework, ModelConfig, ModelInfo, StrEnum
from .inputs import call_model, cast_floating, check_batch_size, first_tensor
from .inputs.dtypes import resolve_dtype

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from torch import nn

    from .weights import WeightsSource


class _class_or_instance_method:
    """Bind to the instance when called on one. On the class: to the class itself, or with
    ``on_default=True`` to a fresh loader of the default variant, since upstream's README calls
    ``ModelLoader.load_model()`` on the class."""

    def __init__(self, func: Any = None, *, on_default: bool = False) -> None:
        self.func, self.on_default = func, on_default
        self.__doc__ = getattr(func, "__doc__", None)

    def __call__(self, func: Any) -> "_class_or_instance_method":  # used as @...(on_default=True)
        return type(self)(func, on_default=self.on_default)

    def __get__(self, instance: Any, owner: type) -> Any:
        import functools
        import inspect
        import types

        if instance is not None or not self.on_default:
            return types.MethodType(self.func, owner if instance is None else instance)

        @functools.wraps(self.func)
        def on_default(*args: Any, **kwargs: Any) -> Any:
            return self.func(owner(), *args, **kwargs)

        on_default.__signature__ = inspect.signature(types.MethodType(self.func, owner))
        return on_default


class ForgeModel(ABC):
    """Base class of every ``ModelLoader``."""

    _VARIANTS: ClassVar[Mapping[StrEnum, ModelConfig]] = {}
    DEFAULT_VARIANT: ClassVar[StrEnum | None] = None
    FRAMEWORK: ClassVar[Framework] = Framework.TORCH
    #: Names of dict inputs with no batch dimension, shared by every row of the batch (CLIP's
    #: label prompts); every other input tensor leads with ``batch_size``.
    SHARED_INPUTS: ClassVar[tuple[str, ...]] = ()
    #: whether a person-readable ``decode_output`` needs the model (greedy generation of a
    #: transcript): then ``run`` passes ``model=`` and ``inputs=`` to it
    DECODE_GENERATES: ClassVar[bool] = False

    def __init__(self, variant: StrEnum | str | None = None) -> None:
        self._variant = self._resolve_variant(variant)
        self._variant_config = self._VARIANTS[self._variant]
        #: where the last ``load_model`` got its weights: "pretrained", "random", "meta", "local:<path>"
        self.weights_source: str | None = None

    # ---- variants ------------------------------------------------------------------------------

    @property
    def variant(self) -> StrEnum:
        return self._variant

    @classmethod
    def query_available_variants(cls) -> dict[StrEnum, ModelConfig]:
        return dict(cls._VARIANTS)

    @classmethod
    def _resolve_variant(cls, variant: StrEnum | str | None) -> StrEnum:
        if not cls._VARIANTS:
            raise TypeError(f"{cls.__qualname__} declares no variants in _VARIANTS")
        if variant is None:
            if cls.DEFAULT_VARIANT is None:
                raise TypeError(f"{cls.__qualname__} declares no DEFAULT_VARIANT")
            return cls.DEFAULT_VARIANT
        from .validation import check_variant

        return check_variant(cls, variant)

    @classmethod
    def _model_label(cls) -> str:
        # "resnet/pytorch" from "<pkg>.resnet.pytorch.loader", wherever the package is vendored.
        parts = cls.__module__.split(".")
        return "/".join(parts[-3:-1]) if len(parts) >= 3 else cls.__qualname__

    @_class_or_instance_method
    def get_variant_config(owner: Any, variant: StrEnum | str | None = None) -> ModelConfig:
        """The row of ``variant``: on the class ``None`` means the default variant, on an instance
        its own."""
        if variant is None and isinstance(owner, ForgeModel):
            return owner._variant_config
        cls = owner if isinstance(owner, type) else type(owner)
        return cls._VARIANTS[cls._resolve_variant(variant)]

    @_class_or_instance_method
    def get_model_info(owner: Any, variant: StrEnum | str | None = None) -> ModelInfo:
        """The frozen :class:`ModelInfo` of ``variant``.

        On the class, ``None`` means the default variant; on an instance, the instance's own.
        """
        if variant is None and isinstance(owner, ForgeModel):
            variant = owner._variant
        cls = owner if isinstance(owner, type) else type(owner)
        resolved = cls._resolve_variant(variant)
        info = cls._get_model_info(resolved)
        if info.model_name_clean is None:
            import dataclasses

            info = dataclasses.replace(info, model_name_clean=cls._VARIANTS[resolved].model_name_clean)
        return info

    @classmethod
    def _get_model_info(cls, variant: StrEnum) -> ModelInfo:
        """The info of a resolved variant, from its row; ``model`` is the loader's folder name."""
        return cls._info(variant, cls._model_label().split("/")[0])

    @classmethod
    def _info(cls, variant: StrEnum, model: str) -> ModelInfo:
        """The info every table-driven loader derives from its variant row."""
        config = cls._VARIANTS[variant]
        return ModelInfo(
            model=model,
            variant=str(variant),
            group=config.group,
            task=config.task,
            source=config.source,
            framework=cls.FRAMEWORK,
            model_name_clean=config.model_name_clean,
        )

    # ---- the contract --------------------------------------------------------------------------

    @_class_or_instance_method(on_default=True)
    def load_model(
        self,
        *,
        dtype_override: Any = None,
        weights: Any = None,
        seed: int = 0,
        device: str | None = None,
        dropout: float | None = None,
        **kwargs: Any,
    ) -> "nn.Module":
        """The variant's model in eval mode, every floating tensor in ``dtype_override``.

        ``weights``: "pretrained", "random", "auto" or a local path (see :mod:`.weights`).
        ``seed`` (``0..2**64-1``) seeds random weights without touching the global RNG.
        ``device`` (a str or ``torch.device``): ``"meta"`` gives a shape-only model at any size
        (``weights=`` is still checked); an accelerator gets the model built on the CPU and moved.
        Families take extra keywords such as ``num_layers``. ``dropout`` (a float in [0, 1]) sets
        every dropout probability of the model, so ``dropout=0.0`` makes training runs
        deterministic (see :mod:`.training`); ``None`` keeps the model's own.
        """
        from .inputs.devices import resolve_model_device
        from .tasks.training import check_dropout, set_dropout
        from .validation import check_seed
        from .weights import load_with_policy

        dtype = resolve_dtype(dtype_override)
        seed = check_seed(seed)
        dropout = check_dropout(dropout)
        target = resolve_model_device(device)  # before anything is built
        meta = target is not None and target.type == "meta"
        loaded = load_with_policy(
            self.source,
            weights,
            variant_name=str(self._variant),
            dtype=dtype,
            seed=seed,
            device="meta" if meta else None,
            model_name=self.get_model_info().model,
            **kwargs,
        )
        model = loaded.model
        if dropout is not None:
            set_dropout(model, dropout)
        if target is not None and target.type not in ("cpu", "meta"):
            model = model.to(target)  # built on the CPU, then moved
        if dtype is not None and not meta:
            _check_dtype(model, dtype)
        model.eval()
        self.weights_source = loaded.source
        return model

    @_class_or_instance_method(on_default=True)
    def load_inputs(self, *, dtype_override: Any = None, batch_size: int = 1, **kwargs: Any) -> Any:
        """Deterministic sample inputs with a leading batch of ``batch_size`` (but those named in
        :attr:`SHARED_INPUTS`); never loads weights.

        Returns a dict (call ``model(**inputs)``) or a tensor (``model(inputs)``); use
        :func:`call_model` to call either way. Floating tensors are cast to ``dtype_override``;
        integer and bool tensors are left alone.
        """
        dtype = resolve_dtype(dtype_override)
        batch_size = check_batch_size(batch_size)
        return cast_floating(self._load_inputs(batch_size=batch_size, **kwargs), dtype)

    @classmethod
    def _loader_dir(cls) -> "Path":
        """The folder of the concrete loader's file (its shipped ``configs/``), wherever the
        package is vendored."""
        import sys
        from pathlib import Path

        return Path(sys.modules[cls.__module__].__file__).resolve().parent

    @functools.cached_property
    def source(self) -> "WeightsSource":
        """The :class:`WeightsSource` that builds this variant (``describe()``, ``is_cached()``,
        ``offline_reason()``, ``load_config()``...). Built once per loader: a loader's variant is
        fixed. Not to be confused with :attr:`weights_source`, the provenance string of the last
        ``load_model``."""
        return self._build_source()

    def _build_source(self) -> "WeightsSource":
        """The hook behind :attr:`source`: by default the standard source for the row's
        ``source``, with shipped configs found beside the loader's own file. Loaders of our own
        networks (Darknet) override it."""
        from .weights.sources import source_for

        return source_for(self._variant_config, self._loader_dir())

    @abstractmethod
    def _load_inputs(self, *, batch_size: int, **kwargs: Any) -> Any:
        """The sample inputs in their natural dtype."""

    # ---- hooks with harmless defaults ----------------------------------------------------------

    def decode_output(self, outputs: Any, **kwargs: Any) -> Any:
        """Turn raw outputs into something a person reads. Returns; never prints."""
        from .validation import check_outputs

        return self.unpack_forward_output(check_outputs(outputs))

    def unpack_forward_output(self, output: Any) -> Any:
        """The tensor a training step backpropagates: ``logits`` when there are some, else the
        first tensor found."""
        return first_tensor(output)

    def load_config(self, **kwargs: Any) -> Any:
        """The architecture config without any weights (its source's, e.g. a transformers config;
        ``None`` where the source has none). Families with one take ``num_layers=`` and config
        keywords, as ``load_model`` does."""
        return self.source.load_config(**kwargs)

    #: keyword arguments of :func:`.parallel.transformer_shard_spec` naming the family's column-
    #: and row-parallel Linears (last parts of module names, such as ``q_proj`` or
    #: ``intermediate.dense``) and stacked expert weights split by expert (``expert``: last parts
    #: of parameter names); ``None``: no tensor-parallel layout (upstream's default).
    TENSOR_PARALLEL: ClassVar[Mapping[str, tuple[str, ...]] | None] = None

    def get_mesh_config(self, num_devices: int) -> tuple[Any, tuple[str, ...]]:
        """``(mesh_shape, mesh_axis_names)`` for tensor parallelism over ``num_devices``: a
        ``(batch, model)`` mesh whose model axis divides every count of :meth:`_mesh_divides`
        (each device keeps whole heads). Always a pair, ``(None, ())`` where the loader declares
        no ``TENSOR_PARALLEL`` layout (upstream's default)."""
        from .parallel import mesh_config

        if getattr(self, "TENSOR_PARALLEL", None) is None:  # upstream calls the default on any object
            return None, ()
        return mesh_config(num_devices, divides=self._mesh_divides(), **self._mesh_rows())

    def _mesh_divides(self) -> Mapping[str, int]:
        """The counts the model axis must divide: every dimension the shard plan splits (read from
        a meta build, free at any size) and, where the config has them, the attention heads, so
        each device keeps whole heads."""
        from .parallel import MODEL_AXIS

        model = self.load_model(device="meta")
        params = dict(model.named_parameters())
        divides: dict[str, int] = {}
        for name, placement in (self.load_shard_plan(model) or {}).items():
            for dim, axis in enumerate(placement):
                size = params[name].shape[dim]
                if axis == MODEL_AXIS and size not in divides.values():
                    divides[f"{name}[{dim}]"] = size
        return {**self._attention_heads(), **divides}

    def _attention_heads(self) -> Mapping[str, int]:
        """``{"num_attention_heads": n}`` of the shipped config; families whose config nests them
        (CLIP's towers) name their own."""
        heads = getattr(self.load_config(), "num_attention_heads", None)
        return {"num_attention_heads": heads} if isinstance(heads, int) else {}

    def _mesh_rows(self) -> Mapping[str, Any]:
        """``batch_rows``/``batch_rows_from`` of :func:`.parallel.mesh_config`: a 2-D mesh from some
        device count up (the 70B Llamas); none by default."""
        return {}

    def load_shard_plan(
        self, model: "nn.Module", *, strategy: str = "megatron", batch_axis: str = "batch"
    ) -> dict[str, tuple[str | None, ...]] | None:
        """Parameter *name* to per-dimension mesh axes (see :mod:`.parallel`), or ``None`` where
        unsupported. ``"megatron"``: the ``TENSOR_PARALLEL`` column- and row-parallel Linears,
        the rest replicated; ``"fsdp"``: each weight's other dimension split over ``batch_axis``
        too (:func:`.parallel.strategy_shard_spec`). The one source of :meth:`load_shard_spec`
        and of our DTensor :func:`.parallel.parallelize`."""
        from .parallel import strategy_shard_spec

        layout = getattr(self, "TENSOR_PARALLEL", None)
        if layout is None:
            return None
        return strategy_shard_spec(model, strategy=strategy, batch_axis=batch_axis, **layout)

    def load_shard_spec(self, model: "nn.Module") -> dict[Any, tuple[str | None, ...]] | None:
        """Upstream's form of :meth:`load_shard_plan`: each of ``model``'s parameter *tensors* to
        its spec, as ``xs.mark_sharding(tensor, mesh, spec)`` takes them; ``None`` where unsupported."""
        from .parallel import by_tensor

        return by_tensor(model, self.load_shard_plan(model))

    @property
    def requires_model_rewrites(self) -> bool:
        """Whether a consumer should apply its in-place model rewrites (upstream's sliding-window
        mask patch) before compiling; none of ours need them."""
        return False

    def get_weight_dtype_config_path(self) -> str | None:
        """Path of ``mixed_precision_configs/<model_name_clean>.json`` beside the loader, where a
        per-weight dtype override is shipped (upstream's hook); ``None`` when there is none."""
        folder = self._loader_dir() / "mixed_precision_configs"
        path = folder / f"{self._variant_config.model_name_clean}.json"
        return str(path) if path.is_file() else None

    # One helper that calls a model with its inputs, whatever their form.
    call_model = staticmethod(call_model)

    # ---- what the command line asks of a model, in any framework (JAX and ONNX loaders override) --

    def count_model_parameters(self, model: Any) -> int:
        """Elements of the model's parameters (buffers excluded)."""
        return sum(p.numel() for p in model.parameters())

    def model_dtype(self, model: Any) -> str:
        """The dtype of the model's first floating parameter, by name (``"bfloat16"``)."""
        return str(next((p.dtype for p in model.parameters() if p.is_floating_point()), "")).removeprefix("torch.")


class ForgePrefillModel(ForgeModel):
    """Upstream's base of loaders that consumers sweep over prefill meshes, strategies, batch
    sizes and sequence lengths (tt-xla's ``test_llms_torch``). A loader module defines one beside
    its ``ModelLoader`` (``class ModelLoaderPrefill(ModelLoader, ForgePrefillModel)``): consumers
    run the regular loader through their generic tests and decode phase, and this one through
    prefill."""

    def load_inputs_prefill(self, dtype_override: Any = None, batch_size: int = 1, seq_len: int = 128) -> Any:
        """Prefill inputs of ``batch_size`` rows padded to ``seq_len``: ``load_inputs`` itself."""
        return self.load_inputs(dtype_override=dtype_override, batch_size=batch_size, seq_len=seq_len)

    def load_shard_spec(  # type: ignore[override]
        self, model: "nn.Module", strategy: str = "fsdp", batch_axis: str = "batch"
    ) -> dict[Any, tuple[str | None, ...]] | None:
        """Parameter tensors to specs for ``strategy``: ``"megatron"`` (tensor parallel on the
        ``model`` axis) or ``"fsdp"`` (that, with each weight's other dimension also split over
        ``batch_axis``: ``"batch"``, or ``"data"`` when the inputs are sharded too)."""
        from .parallel import by_tensor

        return by_tensor(model, self.load_shard_plan(model, strategy=strategy, batch_axis=batch_axis))


def _check_dtype(model: "nn.Module", dtype: Any) -> None:
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        if tensor.is_floating_point() and tensor.dtype != dtype:
            raise AssertionError(f"{type(model).__name__}.{name} is {tensor.dtype}, expected {dtype}")
