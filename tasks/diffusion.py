"""Latent-diffusion components (Stable Diffusion's UNet and VAE decoder), one variant each: the
task base of their loaders, their sample inputs and what their outputs decode to.

Each component is a diffusers model in a subfolder of a hub repository (``DiffusersWeights``); the
row's task says which one it is:

- ``CONDITIONAL_GENERATION``, the denoiser: one denoising step, called as
  ``unet(sample=, timestep=, encoder_hidden_states=)``. ``sample`` is Gaussian noise of the row's
  ``latent_size`` (what the pipeline starts from; its scheduler's ``init_noise_sigma`` is 1), the
  timestep is the first of the schedule (``SAMPLE_TIMESTEP``, pure noise), and
  ``encoder_hidden_states`` are deterministic stand-ins of the text encoder's output, of the shape
  the pipeline feeds (``max_length`` tokens by the config's ``cross_attention_dim``): CLIP ViT-L/14's
  last hidden state for SD 1.x, which is another model's output and not computed here.
  ``decode_output`` gives the noise prediction's shape and statistics.
- ``CV_IMG_TO_IMG``, the VAE decoder: the loader returns :class:`.latent_decoder.LatentDecoder`,
  ``vae.decode(latents / scaling_factor).sample`` as the pipeline calls it, fed Gaussian latents
  of the row's ``latent_size``. ``decode_output`` gives the images as PIL images
  (``(x / 2 + 0.5).clamp(0, 1)`` to ``uint8``, as the pipeline's image processor does) with their sizes.

Every input comes from a private ``torch.Generator`` (the global RNG is never read). Only the
standard library and ``base``/``config`` are imported at module level.
"""

from __future__ import annotations

from typing import Any

from ..base import ForgeModel
from ..config import DiffusersWeights, InputSpec, ModelConfig, ModelGroup, ModelTask, TestSpec

#: the first timestep of a one-step schedule over the 1000 training steps: the latents are pure noise
SAMPLE_TIMESTEP = 999
#: seeds of the private generators the latents and the text-embedding stand-ins are drawn from
LATENT_SEED = 0
TEXT_SEED = 1
#: the spatial downsampling of the denoiser's input (three stages halve it), which sizes must divide
DENOISER_STRIDE = 8

DENOISER = ModelTask.CONDITIONAL_GENERATION
DECODER = ModelTask.CV_IMG_TO_IMG


def diffusion_row(
    weights: DiffusersWeights,
    task: ModelTask,
    params: int,
    latent_size: tuple[int, int, int],
    *,
    text_length: int | None = None,
    group: ModelGroup = ModelGroup.GENERALITY,
    **test: Any,
) -> ModelConfig:
    """A component's row: its weights record, task, parameter count, latent size (and, for a
    denoiser, the text length) and test spec."""
    inputs = InputSpec(latent_size=latent_size, max_length=text_length)
    return ModelConfig(weights, task, params, group, inputs, TestSpec(**test))


class DiffusionLoader(ForgeModel):
    """Inputs and decoding per component, chosen by the row's task (see the module docstring)."""

    def _build_source(self) -> Any:
        from ..weights.diffusers import DiffusersSource

        options = {}
        if self._variant_config.task == DECODER:
            from .latent_decoder import LatentDecoder

            options["wrap"] = LatentDecoder
        return DiffusersSource.from_record(self._variant_config.weights, self._loader_dir(), **options)

    def _shipped_config(self) -> dict[str, Any]:
        """The component's shipped config.json, read as JSON: inputs need no diffusers import."""
        import json

        return json.loads((self._loader_dir() / self._variant_config.weights.config_file).read_text())

    def _load_inputs(self, *, batch_size: int, input_size: Any = None) -> Any:
        """Latents of ``input_size`` (channels, height, width; the row's ``latent_size`` by
        default), and for a denoiser its timestep and text embeddings."""
        import torch

        from ..inputs import check_input_bytes

        spec, task = self._variant_config.inputs, self._variant_config.task
        size = _latent_size(input_size, spec.latent_size, stride=DENOISER_STRIDE if task == DENOISER else 1)
        width = self._shipped_config().get("cross_attention_dim") if task == DENOISER else None
        text = batch_size * spec.max_length * width if width else 0
        check_input_bytes(4 * (batch_size * size[0] * size[1] * size[2] + text), f"{batch_size} latents of {size}")
        latents = torch.randn((batch_size, *size), generator=torch.Generator().manual_seed(LATENT_SEED))
        if task != DENOISER:
            return latents
        embedding = torch.randn((1, spec.max_length, width), generator=torch.Generator().manual_seed(TEXT_SEED))
        return {
            "sample": latents,
            "timestep": torch.full((batch_size,), SAMPLE_TIMESTEP, dtype=torch.long),
            "encoder_hidden_states": embedding.expand(batch_size, -1, -1).contiguous(),
        }

    def decode_output(self, outputs: Any, **kwargs: Any) -> Any:
        """A denoiser's noise prediction as ``{"shape", "mean", "std", "min", "max"}``; a decoder's
        images as ``[{"image": PIL.Image, "size": (width, height)}]``, one per image."""
        from ..validation import check_outputs

        if kwargs:
            raise TypeError(f"decode_output takes only the outputs, got {', '.join(sorted(kwargs))}")
        tensor = self.unpack_forward_output(check_outputs(outputs)).detach()
        denoiser = self._variant_config.task == DENOISER
        if tensor.dim() != 4:
            raise ValueError(
                f"decode_output takes a batch of {'noise predictions' if denoiser else 'images'} (batch, channels, "
                f"height, width), got a tensor of shape {tuple(tensor.shape)}"
            )
        return noise_statistics(tensor) if denoiser else decoded_images(tensor)


def noise_statistics(noise: Any) -> dict[str, Any]:
    """The shape and statistics of a noise prediction, over the whole batch (in float32)."""
    values = noise.float()
    return {
        "shape": tuple(noise.shape),
        "mean": float(values.mean()),
        "std": float(values.std()) if values.numel() > 1 else 0.0,
        "min": float(values.min()),
        "max": float(values.max()),
    }


def decoded_images(images: Any) -> list[dict[str, Any]]:
    """Images in [-1, 1] (batch, 3, height, width) as PIL images, as the pipeline's image
    processor turns them out: ``(x / 2 + 0.5).clamp(0, 1)``, scaled to ``uint8``."""
    from PIL import Image

    if images.shape[1] != 3:
        raise ValueError(f"decode_output takes RGB images (batch, 3, height, width), got {tuple(images.shape)}")
    pixels = ((images.float() / 2 + 0.5).clamp(0, 1) * 255).round().to("cpu").byte().permute(0, 2, 3, 1).numpy()
    out = []
    for array in pixels:
        image = Image.fromarray(array)  # uint8 (height, width, 3): RGB
        out.append({"image": image, "size": image.size})
    return out


def _latent_size(value: Any, default: tuple[int, int, int], *, stride: int) -> tuple[int, int, int]:
    """``value`` (or ``default`` when None) as (channels, height, width): the model's own channels,
    positive sides, multiples of ``stride``."""
    if value is None:
        return default
    sides = tuple(value) if isinstance(value, (tuple, list)) else None
    if (
        sides is None
        or len(sides) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in sides)
        or sides[0] != default[0]
        or sides[1] % stride
        or sides[2] % stride
    ):
        raise ValueError(
            f"input_size must be ({default[0]}, height, width) with height and width positive"
            f"{f' multiples of {stride}' if stride > 1 else ''}, got {value!r}"
        )
    return sides


__all__ = [
    "DECODER",
    "DENOISER",
    "DiffusionLoader",
    "SAMPLE_TIMESTEP",
    "decoded_images",
    "diffusion_row",
    "noise_statistics",
]
