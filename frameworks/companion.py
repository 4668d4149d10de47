"""``CompanionLoader``: a loader in another framework whose variants, weights and inputs are those
of its family's PyTorch loader.

A family's ``jax/loader.py`` or ``onnx/loader.py`` names ``TORCH_LOADER``; the variant table and
default are that loader's (all of it, or a subset of its rows, never a copy), and every model it
makes starts from a PyTorch model the PyTorch loader built with the same ``weights=``, ``seed=``
and ``num_layers=``.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

from ..base import ForgeModel
from ..errors import MissingDependencyError


class CompanionLoader(ForgeModel):
    """Base of JAX and ONNX loaders. Subclasses set ``TORCH_LOADER`` (and may set ``_VARIANTS`` to
    a subset of its rows, ``{v: TorchLoader._VARIANTS[v] for v in ...}``)."""

    TORCH_LOADER: ClassVar[type[ForgeModel]]
    #: the pip extra that installs this framework (``pip install tt-forge-models[<EXTRA>]``)
    EXTRA: ClassVar[str] = ""
    #: modules the framework needs, imported on first use (never at listing)
    REQUIRES: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        torch_loader = cls.__dict__.get("TORCH_LOADER")
        if torch_loader is None:
            return
        if "_VARIANTS" not in cls.__dict__:
            cls._VARIANTS = torch_loader._VARIANTS
        foreign = [v for v, row in cls._VARIANTS.items() if torch_loader._VARIANTS.get(v) is not row]
        if foreign:
            raise TypeError(f"{cls.__qualname__}: rows {foreign} are not rows of {torch_loader.__qualname__}")
        if "DEFAULT_VARIANT" not in cls.__dict__:
            default = torch_loader.DEFAULT_VARIANT
            cls.DEFAULT_VARIANT = default if default in cls._VARIANTS else next(iter(cls._VARIANTS))
        for name in ("SHARED_INPUTS", "DECODE_GENERATES"):
            if name not in cls.__dict__:
                setattr(cls, name, getattr(torch_loader, name))

    def __init__(self, variant: Any = None) -> None:
        super().__init__(variant)
        self.torch_loader = self.TORCH_LOADER(self._variant)

    @classmethod
    def _loader_dir(cls) -> Any:
        """The PyTorch loader's folder: its shipped configs are this loader's too."""
        return cls.TORCH_LOADER._loader_dir()

    @classmethod
    def _get_model_info(cls, variant: Any) -> Any:
        return cls._info(variant, cls.TORCH_LOADER._model_label().split("/")[0])

    @classmethod
    def require(cls) -> None:
        """Import the framework's modules, or raise one line naming the extra that installs them."""
        for module in cls.REQUIRES:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise MissingDependencyError(
                    f"{cls._model_label()} needs {module}, which is not installed: "
                    f"pip install 'tt-forge-models[{cls.EXTRA}]'"
                ) from exc

    @property
    def source(self) -> Any:  # the PyTorch loader's: same weights policy, same provenance
        return self.torch_loader.source

    def _load_inputs(self, *, batch_size: int, **kwargs: Any) -> Any:
        return self.torch_loader._load_inputs(batch_size=batch_size, **kwargs)

    #: what :meth:`compiled` compiles with, as ``bench`` records it (``jax.jit``)
    COMPILER: ClassVar[str | None] = None

    def compiled(self, model: Any) -> Any:
        """The framework's compiled forward, ``compiled(model)(inputs)``; what ``bench --mode compile``
        times."""
        raise ValueError(f"{self.FRAMEWORK} models have no compile mode here; use --mode eager")

    def load_config(self, **kwargs: Any) -> Any:
        return self.torch_loader.load_config(**kwargs)
