"""Stable Diffusion 1.5's components, each a variant on the diffusion task base: the UNet (one
denoising step) and the VAE decoder (latents to a 512x512 image), from the maintained mirror of
runwayml's repository at a pinned commit."""

from __future__ import annotations

from ...config import DiffusersWeights, StrEnum
from ...tasks.diffusion import DECODER, DENOISER, DiffusionLoader, diffusion_row

REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5"
REVISION = "451f4fe16113bff5a5d2269ed5ad43b0592e9a14"
LATENTS = (4, 64, 64)  # a 512x512 image, downsampled 8x by the VAE

# The suite's reduced instances: two stages of narrow blocks, one layer each, every kind of block kept
# (cross-attention and plain down and up blocks, the attention mid block; the VAE's up blocks).
_TWO_STAGES = {"block_out_channels": (32, 64), "layers_per_block": 1}
_UNET_DOWN, _UNET_UP = ("CrossAttnDownBlock2D", "DownBlock2D"), ("UpBlock2D", "CrossAttnUpBlock2D")
_VAE_DOWN, _VAE_UP = ("DownEncoderBlock2D",) * 2, ("UpDecoderBlock2D",) * 2


class ModelVariant(StrEnum):
    UNET = "unet"
    VAE_DECODER = "vae_decoder"


class ModelLoader(DiffusionLoader):
    _VARIANTS = {
        ModelVariant.UNET: diffusion_row(
            DiffusersWeights.shipped(REPO, REVISION, "unet", "UNet2DConditionModel"),
            DENOISER,
            859_520_964,
            LATENTS,
            text_length=77,  # CLIP's context
            overrides=_TWO_STAGES | {"down_block_types": _UNET_DOWN, "up_block_types": _UNET_UP},
            num_params=1_028_484,
            input_size=(4, 16, 16),
        ),
        # post_quant_conv and the decoder of the AutoencoderKL; its encoder (34.2M) is left out.
        ModelVariant.VAE_DECODER: diffusion_row(
            DiffusersWeights.shipped(REPO, REVISION, "vae", "AutoencoderKL"),
            DECODER,
            49_490_199,
            LATENTS,
            overrides=_TWO_STAGES | {"down_block_types": _VAE_DOWN, "up_block_types": _VAE_UP},
            num_params=402_071,
            input_size=(4, 16, 16),
        ),
    }
    DEFAULT_VARIANT = ModelVariant.UNET
