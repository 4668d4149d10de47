"""Image classifiers: the task base of every ImageNet-style family (ResNet today; ViT, Swin,
MobileNet, EfficientNet and ConvNeXt next). A family's loader is its variant table.

Every variant classifies a real photograph shipped in ``assets/`` (``SAMPLE_IMAGE``), preprocessed
by its source's own eval transform: torchvision's weights enum, timm's pretrained config, or the
Hugging Face image processor. When the processor cannot be had offline, the documented ImageNet
constants stand in, with one :class:`~..errors.PreprocessorFallbackWarning`. ``decode_output``
gives the top-k ImageNet labels. The upstream zoo's per-loader names (``input_preprocess``,
``output_postprocess``, ``post_process``) that tt-forge-fe's tests call are here too.

Only the standard library and ``base``/``config`` are imported at module level.
"""

from __future__ import annotations

from typing import Any

from ..base import ForgeModel
from ..config import InputSpec, ModelConfig, ModelGroup, ModelSource, ModelTask, TestSpec, TorchvisionWeights

SAMPLE_IMAGE = "chelsea.jpg"


def image_cls_row(
    weights: Any, params: int, size: int = 224, group: ModelGroup = ModelGroup.GENERALITY, **test: Any
) -> ModelConfig:
    """A classifier's row: its weights record, parameter count, square input size and test spec."""
    return ModelConfig(
        weights, ModelTask.CV_IMAGE_CLS, params, group, InputSpec(image_size=(3, size, size)), TestSpec(**test)
    )


def torchvision_row(builder: str, tag: str, params: int, sha256: str | None = None, **kw: Any) -> ModelConfig:
    """A torchvision classifier's row: builder, weights-enum tag and (where known) the file's sha256."""
    return image_cls_row(TorchvisionWeights(builder, tag, sha256), params, **kw)


class ImageClassifierLoader(ForgeModel):
    """Inputs, preprocessing and decoding shared by every image-classification family."""

    def _load_inputs(self, *, batch_size: int, image: str = SAMPLE_IMAGE) -> Any:
        from ..inputs.vision import batch, sample_image

        return batch(self._preprocess()(sample_image(image)), batch_size)

    def _preprocess(self) -> Any:
        """The source's own eval transform: one PIL image in, one CHW float tensor out."""
        config, source = self._variant_config, self.source
        size = config.inputs.image_size[1]
        if config.source == ModelSource.TORCHVISION:
            return source.transforms(crop_size=size)
        if config.source == ModelSource.TIMM:
            return source.transforms()
        return _hf_processor_transform(source, size)

    def categories(self) -> tuple[str, ...]:
        """The class names the head's outputs index (ImageNet-1k)."""
        from .labels import imagenet_categories

        return imagenet_categories()

    def decode_output(self, outputs: Any, *, top_k: int = 5, **kwargs: Any) -> list[list[dict[str, Any]]]:
        """Per image, the ``top_k`` labels with their probabilities."""
        from ..validation import check_outputs
        from .decode import topk_classes

        return topk_classes(self.unpack_forward_output(check_outputs(outputs)), self.categories(), top_k)

    # ---- upstream's per-loader names (tt-forge-fe's image-classification tests call them) -------

    def input_preprocess(self, dtype_override: Any = None, batch_size: int = 1, image: str | None = None) -> Any:
        """Upstream's name for ``load_inputs``."""
        kwargs = {} if image is None else {"image": image}
        return self.load_inputs(dtype_override=dtype_override, batch_size=batch_size, **kwargs)

    def output_postprocess(self, output: Any, top_k: int = 1) -> list[list[dict[str, Any]]]:
        """Upstream's name for ``decode_output`` (its default is the top label only)."""
        return self.decode_output(output, top_k=top_k)

    def post_process(
        self,
        co_out: Any = None,
        framework_model: Any = None,
        compiled_model: Any = None,
        inputs: Any = None,
        dtype_override: Any = None,
        top_k: int = 5,
    ) -> Any:
        """tt-forge-fe's call: ``decode_output(co_out)``; or, given both models and ``inputs`` (PIL
        images), each image preprocessed by the variant's transform, run through both models and
        decoded: ``[{"framework": [...], "compiled": [...]}]`` per image."""
        if framework_model is None and compiled_model is None:
            if co_out is None:
                raise TypeError("post_process needs co_out=, or framework_model=, compiled_model= and inputs=")
            return self.decode_output(co_out, top_k=top_k)
        if framework_model is None or compiled_model is None or inputs is None:
            raise TypeError("post_process needs framework_model=, compiled_model= and inputs= (PIL images) together")
        import torch

        from ..inputs import cast_floating
        from ..inputs.dtypes import resolve_dtype

        dtype, preprocess, results = resolve_dtype(dtype_override), self._preprocess(), []
        for image in inputs:
            pixels = cast_floating(preprocess(image.convert("RGB")).unsqueeze(0), dtype)
            with torch.no_grad():
                both = {"framework": framework_model(pixels), "compiled": compiled_model(pixels)}
            results.append({k: self.decode_output(v, top_k=top_k)[0] for k, v in both.items()})
        return results


def _hf_processor_transform(source: Any, size: int) -> Any:
    from ..inputs.vision import fallback_classification_transform, own_image_processor

    stands_in = (
        f"the documented ImageNet constants (resize {round(size / 0.875)}, centre crop {size}, ImageNet mean and std)"
    )
    processor = own_image_processor(source, stands_in, stacklevel=4)
    if processor is None:
        return fallback_classification_transform(size)
    return lambda image: processor(images=image, return_tensors="pt")["pixel_values"][0]
