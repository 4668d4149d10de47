"""``OnnxLoader``: a family's variants as ONNX graphs exported from its own PyTorch models.

A family's ``onnx/loader.py`` names its PyTorch loader (``TORCH_LOADER``); the variants, the
weights policy and the sample inputs are that loader's (:class:`~.companion.CompanionLoader`).

- ``load_model(onnx_tmp_path=None, *, weights=, seed=, dtype_override=, opset=, num_layers=...)``
  builds the PyTorch model with the same ``weights=``, ``seed=`` and build keywords, exports it
  with ``torch.onnx.export(..., dynamo=True)`` (onnxscript) at the pinned :data:`OPSET` with a
  dynamic batch axis, checks it with ``onnx.checker`` and returns the ``onnx.ModelProto``. The
  export is cached (:mod:`.onnx_cache`): a second call with the same key loads it instead.
  ``onnx_tmp_path`` (upstream's positional argument) is a folder to place the file in as well.
- ``load_inputs(*, dtype_override=None, batch_size=1)`` gives the named numpy arrays the graph
  takes: a dict loader's keys, or ``"input"`` for a loader whose model takes one tensor.
- :func:`run_onnxruntime` runs a graph on those inputs (CPU) and returns its outputs, in the
  order and with the names of the PyTorch model's flattened outputs
  (``logits``, ``output.0``...); ``decode_output`` turns them into what the PyTorch loader's does.

A variant whose row declares ``test.onnx_unsupported`` is refused with that reason.
Only the standard library is imported at module level: listing stays free of onnx.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

from ..base import _class_or_instance_method
from ..config import Framework
from ..errors import OnnxExportError, one_line
from .companion import CompanionLoader

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import onnx

#: the opset every export is pinned to unless ``opset=`` says otherwise: the lowest the dynamo
#: exporter's ONNX functions (torchlib) are written for, so the most consumers read it
OPSET = 18

#: the lowest opset ``opset=`` accepts
MIN_OPSET = 18

#: the name of the dynamic batch dimension of every batched input and output
BATCH_DIM = "batch"

#: the graph input's name when the PyTorch model takes one tensor
TENSOR_INPUT = "input"

#: the batch of the sample the export traces: 2, since a traced size of 1 would be specialised
EXPORT_BATCH = 2

#: what an export is made with; part of every cache key
EXPORTER = {"exporter": "torch.onnx.export(dynamo=True)", "optimize": True, "dynamic": [BATCH_DIM]}

_METADATA = "tt_forge_models."


class OnnxLoader(CompanionLoader):
    """Base of every ``<family>/onnx/loader.py``: set ``TORCH_LOADER``."""

    FRAMEWORK: ClassVar[Framework] = Framework.ONNX
    EXTRA: ClassVar[str] = "onnx"
    REQUIRES: ClassVar[tuple[str, ...]] = ("onnx", "onnxruntime", "onnxscript")

    def __init__(self, variant: Any = None) -> None:
        super().__init__(variant)
        #: the file the last ``load_model`` returned (its cache entry, or its copy in
        #: ``onnx_tmp_path``); ``None`` after an uncached export with no folder given
        self.onnx_path: Path | None = None
        #: ``"loaded from cache"`` or ``"exported"``: what the last ``load_model`` did
        self.export_status: str | None = None
        self._input_kwargs: dict[str, Any] = {}
        self._graph_inputs: list[str] | None = None
        self._graph_outputs: list[str] | None = None

    # ---- the model -----------------------------------------------------------------------------

    @_class_or_instance_method(on_default=True)
    def load_model(
        self,
        onnx_tmp_path: str | Path | None = None,
        *,
        dtype_override: Any = None,
        weights: Any = None,
        seed: int = 0,
        opset: int = OPSET,
        cache: bool = True,
        cache_dir: str | Path | None = None,
        force: bool = False,
        **kwargs: Any,
    ) -> "onnx.ModelProto":
        """The variant as an ``onnx.ModelProto`` with a dynamic batch axis, exported from the
        PyTorch loader's model built with the same ``weights``, ``seed``, ``dtype_override``
        and build keywords (``num_layers=``, config overrides); keywords of the PyTorch loader's
        ``load_inputs`` (``input_size=``, ``image=``) set the sample the graph is traced on (and
        the shapes ``load_inputs`` gives afterwards).

        ``opset``: the ONNX opset (:data:`OPSET`, or any from :data:`MIN_OPSET` up to the newest
        the exporter writes). ``cache``: reuse and fill the export cache under ``cache_dir``
        (default :func:`.onnx_cache.cache_root`). ``onnx_tmp_path``: a folder that also gets the
        file (``<model>-<variant>.onnx``); :attr:`onnx_path` names the file either way.
        ``force``: export a variant even where its row declares it cannot be.
        """
        from ..inputs.dtypes import resolve_dtype
        from ..validation import check_seed
        from ..weights.policy import resolve_choice
        from . import onnx_cache

        for name in ("device", "dropout"):
            if name in kwargs:
                raise TypeError(f"{name}= is not an ONNX export option: the graph is exported on the CPU in eval mode")
        if not isinstance(cache, bool) or not isinstance(force, bool):
            raise TypeError(f"cache and force must be bools, got {cache!r} and {force!r}")
        self.require()
        opset = check_opset(opset)
        dtype = resolve_dtype(_as_torch_dtype(dtype_override))
        seed = check_seed(seed)
        choice = resolve_choice(weights)
        build, input_kwargs = self._split_kwargs(kwargs)
        reason = self._variant_config.test.onnx_unsupported
        if reason is not None and not force:
            raise OnnxExportError(f"{self._label()} cannot be exported to ONNX: {reason}")
        root = onnx_cache.resolve_cache_dir(cache_dir) if cache else None
        if onnx_tmp_path is not None:
            onnx_tmp_path = onnx_cache.folder_argument("onnx_tmp_path", onnx_tmp_path)

        sample = self.torch_loader.load_inputs(dtype_override=dtype, batch_size=EXPORT_BATCH, **input_kwargs)
        signature = _input_signature(sample, self.SHARED_INPUTS)

        def key_for(identity: str) -> dict[str, Any]:
            return onnx_cache.export_key(
                model=self._model_name(),
                variant=str(self._variant),
                weights=identity,
                seed=seed if identity == "random" else None,
                dtype=str(dtype).removeprefix("torch.") if dtype is not None else "default",
                opset=opset,
                build=build,
                inputs=signature,
                exporter=EXPORTER,
            )

        tried = None
        predicted = self._predicted_weights(choice)
        if root is not None and predicted is not None:
            tried = key_for(predicted[0])
            hit = onnx_cache.read_entry(onnx_cache.entry_dir(root, tried), tried)
            if hit is not None:
                if choice == "auto" and predicted[1] == "random":
                    self._warn_fallback()
                provenance = hit.record.get("weights_source", predicted[1])
                return self._loaded(hit.model, hit.path, provenance, input_kwargs, onnx_tmp_path)

        torch_model = self.torch_loader.load_model(dtype_override=dtype, weights=weights, seed=seed, **build)
        provenance = self.torch_loader.weights_source
        identity = onnx_cache.weights_identity(
            provenance, self.source.describe(), choice if isinstance(choice, Path) else None
        )
        key = key_for(identity)
        folder = onnx_cache.entry_dir(root, key) if root is not None else None
        if folder is not None and key != tried:
            hit = onnx_cache.read_entry(folder, key)
            if hit is not None:
                return self._loaded(hit.model, hit.path, provenance, input_kwargs, onnx_tmp_path)

        metadata = {"model": self._model_name(), "variant": str(self._variant), "weights": provenance}
        if provenance == "random":
            metadata["seed"] = str(seed)
        try:
            model = export_onnx(torch_model, sample, opset=opset, shared=self.SHARED_INPUTS, metadata=metadata)
        except OnnxExportError as err:
            raise OnnxExportError(
                f"{self._label()}: {err}. A variant that cannot be exported declares why in its row "
                "(TestSpec.onnx_unsupported)"
            ) from err
        del torch_model
        path = None
        if folder is not None:
            extra = {"weights_source": provenance, "inputs": graph_inputs(model), "outputs": output_paths(model)}
            path = onnx_cache.write_entry(folder, model, key, stem=self._stem(), extra=extra)
        elif onnx_tmp_path is not None:
            import tempfile

            with tempfile.TemporaryDirectory() as scratch:
                files = onnx_cache.save_graph(model, Path(scratch), self._stem())
                return self._loaded(model, files[0], provenance, input_kwargs, onnx_tmp_path, exported=True)
        return self._loaded(model, path, provenance, input_kwargs, onnx_tmp_path, exported=True)

    def _loaded(
        self,
        model: "onnx.ModelProto",
        path: Path | None,
        provenance: str,
        input_kwargs: Mapping[str, Any],
        onnx_tmp_path: Path | None,
        exported: bool = False,
    ) -> "onnx.ModelProto":
        from . import onnx_cache

        if onnx_tmp_path is not None and path is not None:
            path = onnx_cache.publish(path, onnx_tmp_path)
        self.onnx_path = path
        self.weights_source = provenance
        self.export_status = "exported" if exported else "loaded from cache"
        self._input_kwargs = dict(input_kwargs)
        self._graph_inputs = graph_inputs(model)
        self._graph_outputs = output_paths(model)
        return model

    def _predicted_weights(self, choice: Any) -> tuple[str, str] | None:
        """(identity, provenance) of the weights ``choice`` gets, where that is known before any
        build: random, pretrained, a local path, or ``auto`` when the pretrained weights are on
        this machine (pretrained) or cannot be fetched (random). ``None``: only a build tells."""
        from . import onnx_cache

        source = self.source
        if isinstance(choice, Path):
            provenance = f"local:{choice}"
            return onnx_cache.weights_identity(provenance, source.describe(), choice), provenance
        if choice == "auto":
            if source.is_cached():
                choice = "pretrained"
            elif source.offline():
                choice = "random"
            else:
                return None
        return onnx_cache.weights_identity(choice, source.describe()), choice

    def _warn_fallback(self) -> None:
        import warnings

        from ..errors import WeightsFallbackWarning

        warnings.warn(
            f"pretrained weights for variant {str(self._variant)!r} ({self.source.describe()}) are not on this "
            f"machine and cannot be fetched ({self.source.offline_reason()}): using the cached export of random "
            "weights instead (weights='auto')",
            WeightsFallbackWarning,
            stacklevel=4,
        )

    def _split_kwargs(self, kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``load_model``'s extra keywords: (those of the build, those of the sample inputs)."""
        accepted = self._input_keywords()
        build = {k: v for k, v in kwargs.items() if k not in accepted}
        return build, {k: v for k, v in kwargs.items() if k in accepted}

    def _input_keywords(self) -> set[str]:
        params = inspect.signature(type(self.torch_loader)._load_inputs).parameters
        kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return {n for n, p in params.items() if n not in ("self", "batch_size") and p.kind in kinds}

    def _model_name(self) -> str:
        return self.get_model_info().model

    def _label(self) -> str:
        return f"{self._model_name()}/onnx-{self._variant}"

    def _stem(self) -> str:
        return f"{self._model_name().replace('/', '-')}-{self._variant}"

    # ---- inputs and outputs -----------------------------------------------------------------------

    @_class_or_instance_method(on_default=True)
    def load_inputs(self, *, dtype_override: Any = None, batch_size: int = 1, **kwargs: Any) -> dict[str, "np.ndarray"]:
        """The sample inputs as named numpy arrays (floating ones in ``dtype_override``; bfloat16
        as ``ml_dtypes.bfloat16``), keyed by the graph's input names. Keywords of the PyTorch
        loader's ``load_inputs`` default to those the last ``load_model`` traced with."""
        from ..inputs.dtypes import resolve_dtype

        dtype = resolve_dtype(_as_torch_dtype(dtype_override))
        unknown = sorted(set(kwargs) - self._input_keywords())
        if unknown:
            raise TypeError(
                f"load_inputs got unknown keywords {unknown}; accepted: {sorted(self._input_keywords()) or 'none'}"
            )
        sample = self.torch_loader.load_inputs(
            dtype_override=dtype, batch_size=batch_size, **{**self._input_kwargs, **kwargs}
        )
        arrays = numpy_inputs(sample)
        order = self._graph_inputs or list(arrays)
        return {name: arrays[name] for name in order}

    def decode_output(self, outputs: Any, **kwargs: Any) -> Any:
        """:func:`run_onnxruntime`'s outputs as the PyTorch loader decodes them (labels, boxes,
        answers), their structure rebuilt from the graph's output paths."""
        return self.torch_loader.decode_output(self.torch_outputs(outputs), **kwargs)

    def unpack_forward_output(self, output: Any) -> Any:
        return self.torch_loader.unpack_forward_output(self.torch_outputs(output))

    def torch_outputs(self, outputs: Any) -> Any:
        """A list of graph outputs (numpy arrays) as torch tensors in the PyTorch model's output
        structure: a tensor, a list, or a mapping with attribute access (``out.logits``)."""
        if not isinstance(outputs, (list, tuple)) or not all(_is_array(o) for o in outputs):
            return outputs  # already torch outputs
        import torch

        paths = self._output_paths(len(outputs))
        return rebuild_outputs(paths, [torch.from_numpy(_plain_array(o)) for o in outputs])

    # ---- what the command line asks of a model ------------------------------------------------

    def call_model(self, model: Any, inputs: Any) -> list["np.ndarray"]:  # type: ignore[override]
        """:func:`run_onnxruntime` of the graph (from its file where it has one) on ``inputs``."""
        return run_onnxruntime(self.onnx_path if self.onnx_path is not None else model, inputs)

    def count_model_parameters(self, model: "onnx.ModelProto") -> int:
        """Elements of the graph's floating initializers: its weights (and any folded constants)."""
        import math

        from onnx import TensorProto

        floating = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE}
        return sum(math.prod(t.dims) for t in model.graph.initializer if t.data_type in floating)

    def model_dtype(self, model: "onnx.ModelProto") -> str:
        from onnx import TensorProto, helper

        for tensor in model.graph.initializer:
            if tensor.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16):
                return (
                    str(helper.tensor_dtype_to_np_dtype(tensor.data_type))
                    if tensor.data_type != TensorProto.BFLOAT16
                    else "bfloat16"
                )
        return ""

    def _output_paths(self, count: int) -> list[str]:
        if self._graph_outputs is None or len(self._graph_outputs) != count:
            raise ValueError(
                f"{count} outputs do not match the graph this loader last loaded "
                f"({'none' if self._graph_outputs is None else len(self._graph_outputs)} outputs); pass the "
                "outputs of run_onnxruntime(loader.load_model(), loader.load_inputs())"
            )
        return self._graph_outputs


# ---- export -----------------------------------------------------------------------------------------


def check_opset(opset: Any) -> int:
    """``opset`` as an int the exporter writes: :data:`MIN_OPSET` up to torch's newest."""
    from ..validation import check_int

    return check_int("opset", opset, minimum=MIN_OPSET, maximum=max_opset())


def max_opset() -> int:
    """The newest opset torch's exporter writes."""
    try:
        from torch.onnx import _constants

        return int(_constants.ONNX_MAX_OPSET)
    except (ImportError, AttributeError):  # pragma: no cover - a torch without the constant
        return 23


def export_onnx(
    model: Any,
    inputs: Any,
    *,
    opset: int = OPSET,
    shared: Sequence[str] = (),
    metadata: Mapping[str, str] | None = None,
) -> "onnx.ModelProto":
    """Export ``model`` called on ``inputs`` (as ``load_inputs`` returns them: a dict, or one
    tensor) with the dynamo exporter at ``opset``, dim 0 of every input but those in ``shared``
    dynamic (:data:`BATCH_DIM`). Outputs are named after the PyTorch output's flattened paths
    (``logits``; ``output`` for a lone tensor, ``output.0`` for a list's first). ``metadata``
    joins the graph's metadata. The result has passed ``onnx.checker``; an exporter failure is an
    :class:`OnnxExportError`."""
    import warnings

    import torch

    from ..inputs import call_model
    from ..inputs.tree import flatten, path_str
    from . import onnx_cache

    batch = torch.export.Dim(BATCH_DIM, min=1)
    if isinstance(inputs, Mapping):
        args, kwargs, input_names = (), dict(inputs), None
        dynamic: Any = {name: None if name in shared else {0: batch} for name in kwargs}
    elif isinstance(inputs, torch.Tensor):
        args, kwargs, input_names, dynamic = (inputs,), None, [TENSOR_INPUT], ({0: batch},)
    else:
        raise TypeError(f"export_onnx takes a dict of tensors or one tensor, got {type(inputs).__name__}")
    with torch.no_grad():
        paths = [path_str(path) for path, _ in flatten(call_model(model, inputs))]
    try:
        with warnings.catch_warnings():
            # every batched input shares the one batch dimension; torch says so once per input
            warnings.filterwarnings("ignore", message=r"# The axis name: .* will not be used")
            program = torch.onnx.export(
                model,
                args,
                kwargs=kwargs,
                dynamic_shapes=dynamic,
                input_names=input_names,
                opset_version=opset,
                dynamo=True,
                optimize=EXPORTER["optimize"],
                verbose=False,
            )
    except Exception as err:  # the exporter raises many types
        raise OnnxExportError(f"torch.onnx.export of {type(model).__name__} failed: {one_line(err)}") from err
    held = _name_outputs(program.model.graph, paths)
    proto = program.model_proto
    expected = list(kwargs) if kwargs is not None else [TENSOR_INPUT]
    if sorted(graph_inputs(proto)) != sorted(expected):
        raise OnnxExportError(f"the exported graph takes {graph_inputs(proto)}, not the sample's inputs {expected}")
    _set_metadata(proto, {**(metadata or {}), "output_paths": json.dumps(held)})
    onnx_cache.check_graph(proto)
    return proto


def output_name(path: str) -> str:
    """A graph output's name for a flattened output path: ``logits``, ``output`` (the root),
    ``output.0`` (``[0]``), ``hidden_states.1`` (``hidden_states[1]``)."""
    import re

    name = re.sub(r"\[(\d+)\]", r".\1", path)
    return "output" + name if name.startswith(".") else name or "output"


def _name_outputs(graph: Any, paths: list[str]) -> list[str]:
    """Rename the outputs of ``graph`` (an ``onnx_ir`` graph) after the PyTorch output's ``paths``
    (:func:`output_name`; ``output.<name>`` where an input or another value has the name) when
    they pair up one to one: the same count, no value returned twice, none an input or a
    constant. Returns the paths the outputs hold: ``paths`` itself where the counts agree, else
    the exporter's names."""
    values = list(graph.outputs)
    if len(values) != len(paths):
        return [v.name for v in values]
    taken = {v.name for v in graph.inputs} | set(graph.initializers)
    taken |= {out.name for node in graph for out in node.outputs if out not in values}
    names = [output_name(p) for p in paths]
    names = [f"output.{n}" if n in taken else n for n in names]
    unique = len({id(v) for v in values}) == len(values) and len(set(names)) == len(names)
    if unique and not taken & set(names) and all(v.producer() is not None for v in values):
        for value, name in zip(values, names):
            value.name = name
    return list(paths)


def _set_metadata(proto: "onnx.ModelProto", values: Mapping[str, str]) -> None:
    for key, value in values.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = _METADATA + key, str(value)


def graph_inputs(model: "onnx.ModelProto") -> list[str]:
    """The names of the graph's inputs (initializers excluded), in order."""
    initializers = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers]


def output_paths(model: "onnx.ModelProto") -> list[str]:
    """The PyTorch output path of each graph output (from the graph's metadata)."""
    for entry in model.metadata_props:
        if entry.key == _METADATA + "output_paths":
            return json.loads(entry.value)
    return [o.name for o in model.graph.output]


def metadata(model: "onnx.ModelProto") -> dict[str, str]:
    """The ``tt_forge_models.*`` metadata an export carries (model, variant, weights, seed...)."""
    return {e.key.removeprefix(_METADATA): e.value for e in model.metadata_props if e.key.startswith(_METADATA)}


def _input_signature(sample: Any, shared: Sequence[str]) -> dict[str, Any]:
    """Each sample input's dtype and shape (the batch dimension as ``"batch"``), for the key."""
    tensors = dict(sample) if isinstance(sample, Mapping) else {TENSOR_INPUT: sample}
    return {
        name: [
            str(t.dtype).removeprefix("torch."),
            [BATCH_DIM if i == 0 and name not in shared else s for i, s in enumerate(t.shape)],
        ]
        for name, t in tensors.items()
    }


# ---- numpy and onnxruntime ----------------------------------------------------------------------


def numpy_inputs(sample: Any) -> dict[str, "np.ndarray"]:
    """``load_inputs``' torch tensors (a dict, or one tensor named :data:`TENSOR_INPUT`) as numpy
    arrays; bfloat16 becomes ``ml_dtypes.bfloat16``."""
    import torch

    tensors = dict(sample) if isinstance(sample, Mapping) else {TENSOR_INPUT: sample}
    out = {}
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"input {name!r} is a {type(tensor).__name__}, not a tensor; an ONNX graph takes arrays")
        out[name] = to_numpy(tensor)
    return out


def to_numpy(tensor: Any) -> "np.ndarray":
    import torch

    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:
        import ml_dtypes

        return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()


def _is_array(value: Any) -> bool:
    import numpy as np

    return isinstance(value, np.ndarray)


def _plain_array(array: Any) -> Any:
    import numpy as np

    return np.ascontiguousarray(array.astype(np.float32) if array.dtype.name == "bfloat16" else array)


def run_onnxruntime(
    model: "onnx.ModelProto | str | Path", inputs: Mapping[str, Any], *, threads: int | None = None
) -> list["np.ndarray"]:
    """Run ``model`` (a ModelProto, or the path of a graph file: needed beyond 2 GiB) on
    ``inputs`` (``load_inputs``' dict) with onnxruntime's CPU provider; the outputs in graph
    order. ``threads`` caps its intra-op threads. Inputs must be exactly the graph's: a missing
    or unknown name is a ValueError naming them."""
    import onnxruntime as ort

    from ..validation import check_int
    from . import onnx_cache

    if isinstance(model, (str, Path)):
        payload: Any = str(model)
    elif type(model).__name__ == "ModelProto":
        if model.ByteSize() >= onnx_cache.PROTOBUF_LIMIT:
            raise ValueError("the graph is too large to pass in memory; pass its file (loader.onnx_path) instead")
        payload = model.SerializeToString()
    else:
        raise TypeError(f"run_onnxruntime takes an onnx.ModelProto or a file path, got {type(model).__name__}")
    if not isinstance(inputs, Mapping):
        raise TypeError(f"inputs must be a dict of name -> array (load_inputs()), got {type(inputs).__name__}")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = check_int("threads", threads, minimum=1)
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    missing, unknown = sorted(set(names) - set(inputs)), sorted(set(inputs) - set(names))
    if missing or unknown:
        raise ValueError(f"the graph takes inputs {names}; missing {missing}, unknown {unknown}")
    return session.run(None, {name: inputs[name] for name in names})


class OutputMapping(dict):
    """A dict of outputs whose keys are attributes too (``out.logits``), as a ModelOutput's are."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def rebuild_outputs(paths: Sequence[str], tensors: Sequence[Any]) -> Any:
    """Tensors at flattened output paths (``""``, ``[0]``, ``logits``, ``a.b[1]``) rebuilt into
    nested lists and :class:`OutputMapping` s; a lone root tensor is returned as it is."""
    import re

    if list(paths) == [""]:
        return tensors[0]
    root: dict[Any, Any] = {}
    for path, tensor in zip(paths, tensors):
        keys = [int(i) if i else k for k, i in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)]
        node = root
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = tensor

    def build(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        if node and all(isinstance(k, int) for k in node):
            return [build(node[i]) for i in sorted(node)]
        return OutputMapping({k: build(v) for k, v in node.items()})

    return build(root)


def _as_torch_dtype(dtype: Any) -> Any:
    """``dtype_override`` may also be a numpy dtype (``np.float16``, ``ml_dtypes.bfloat16``): its
    name is what :func:`..inputs.dtypes.resolve_dtype` reads."""
    if dtype is None or isinstance(dtype, str) or type(dtype).__module__.startswith("torch"):
        return dtype
    try:
        import numpy as np

        if isinstance(dtype, (bytes, int, float, bool)):
            return dtype
        return np.dtype(dtype).name
    except Exception:  # numpy parses some junk (b",") and raises SyntaxError; resolve_dtype names it
        return dtype
