"""``ForgeModel``: the one contract every loader keeps.

The public methods are fixed here, with keyword-only arguments, so no loader's signature drifts:

- ``load_model(*, dtype_override=None, weights=None, seed=0, device=None, **kwargs)`` validates,
  applies the weights policy of :mod:`.weights` through the loader's :meth:`_weights_source`, puts
  the model in eval mode and records ``self.weights_source``.
- ``load_inputs(*, dtype_override=None, batch_size=1, **kwargs)`` validates, asks the loader's
  :meth:`_load_inputs` for the sample, and casts floating tensors (never integer ones).

A loader writes its variant table, ``_get_model_info`` and ``_load_inputs``, and overrides the
hooks it needs (``_weights_source`` only when its source is not a standard one). Only the standard library is imported at module level.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from .config import Framework, ModelConfig, ModelInfo, StrEnum
from .dtypes import resolve_dtype
from .inputs import call_model, cast_floating, check_batch_size, first_tensor

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from .weights import WeightsSource


class _class_or_instance_method:
    """Bind to the instance when called on one, else to the class."""

    def __init__(self, func: Any) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __get__(self, instance: Any, owner: type) -> Any:
        import functools

        return functools.partial(self.func, owner if instance is None else instance)


class ForgeModel(ABC):
    """Base class of every ``ModelLoader``."""

    _VARIANTS: ClassVar[Mapping[StrEnum, ModelConfig]] = {}
    DEFAULT_VARIANT: ClassVar[StrEnum | None] = None
    FRAMEWORK: ClassVar[Framework] = Framework.TORCH

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

    def get_variant_config(self, variant: StrEnum | str | None = None) -> ModelConfig:
        return self._VARIANTS[self._variant if variant is None else self._resolve_variant(variant)]

    @_class_or_instance_method
    def get_model_info(owner: Any, variant: StrEnum | str | None = None) -> ModelInfo:
        """The frozen :class:`ModelInfo` of ``variant``.

        On the class, ``None`` means the default variant; on an instance, the instance's own.
        """
        if variant is None and isinstance(owner, ForgeModel):
            variant = owner._variant
        cls = owner if isinstance(owner, type) else type(owner)
        return cls._get_model_info(cls._resolve_variant(variant))

    @classmethod
    @abstractmethod
    def _get_model_info(cls, variant: StrEnum) -> ModelInfo:
        """Build the info of a resolved variant; most loaders return ``cls._info(variant, "name")``."""

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
        )

    # ---- the contract --------------------------------------------------------------------------

    def load_model(
        self,
        *,
        dtype_override: Any = None,
        weights: Any = None,
        seed: int = 0,
        device: str | None = None,
        **kwargs: Any,
    ) -> "nn.Module":
        """The variant's model in eval mode, every floating tensor in ``dtype_override``.

        ``weights``: "pretrained", "random", "auto" or a local path (see :mod:`.weights`).
        ``seed`` (``0..2**64-1``) seeds random weights without touching the global RNG.
        ``device`` (a str or ``torch.device``): ``"meta"`` gives a shape-only model at any size
        (``weights=`` is still checked); an accelerator gets the model built on the CPU and moved.
        Families take extra keywords such as ``num_layers``.
        """
        from .devices import resolve_model_device
        from .validation import check_seed
        from .weights import load_with_policy

        dtype = resolve_dtype(dtype_override)
        seed = check_seed(seed)
        target = resolve_model_device(device)  # before anything is built
        meta = target is not None and target.type == "meta"
        loaded = load_with_policy(
            self._weights_source(),
            weights,
            variant_name=str(self._variant),
            dtype=dtype,
            seed=seed,
            device="meta" if meta else None,
            model_name=self.get_model_info().model,
            **kwargs,
        )
        model = loaded.model
        if target is not None and target.type not in ("cpu", "meta"):
            model = model.to(target)  # built on the CPU, then moved
        if dtype is not None and not meta:
            _check_dtype(model, dtype)
        model.eval()
        self.weights_source = loaded.source
        return model

    def load_inputs(self, *, dtype_override: Any = None, batch_size: int = 1, **kwargs: Any) -> Any:
        """Deterministic sample inputs with a leading batch of ``batch_size``; never loads weights.

        Returns a dict (call ``model(**inputs)``) or a tensor (``model(inputs)``); use
        :func:`call_model` to call either way. Floating tensors are cast to ``dtype_override``;
        integer and bool tensors are left alone.
        """
        dtype = resolve_dtype(dtype_override)
        batch_size = check_batch_size(batch_size)
        return cast_floating(self._load_inputs(batch_size=batch_size, **kwargs), dtype)

    def _weights_source(self) -> "WeightsSource":
        """The :class:`WeightsSource` that builds this variant: by default the standard one for
        its source, with shipped configs found beside the loader's own file. Loaders of our own
        networks (Darknet) override it."""
        import sys
        from pathlib import Path

        from .sources import source_for

        return source_for(self._variant_config, Path(sys.modules[type(self).__module__].__file__).parent)

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

    def load_config(self) -> Any:
        """The architecture config without any weights, where the family has one."""
        return None

    def get_mesh_config(self, num_devices: int) -> tuple[tuple[int, ...], tuple[str, ...]] | None:
        """Mesh shape and axis names for tensor parallelism; ``None`` when not supported."""
        return None

    def load_shard_spec(self, model: "nn.Module") -> dict[str, Any] | None:
        """Parameter name to sharding spec over the mesh axes; ``None`` when not supported."""
        return None

    # One helper that calls a model with its inputs, whatever their form.
    call_model = staticmethod(call_model)


def _check_dtype(model: "nn.Module", dtype: Any) -> None:
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        if tensor.is_floating_point() and tensor.dtype != dtype:
            raise AssertionError(f"{type(model).__name__}.{name} is {tensor.dtype}, expected {dtype}")
