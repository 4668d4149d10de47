"""The decoding half of a latent-diffusion VAE as the module a loader returns.

``LatentDecoder(vae)`` keeps ``vae.post_quant_conv`` and ``vae.decoder`` (the same modules, so the
state-dict keys are the VAE's own) and drops the encoder. Its forward is what a pipeline does with
the denoised latents: ``vae.decode(latents / scaling_factor + shift_factor).sample``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class LatentDecoder(nn.Module):
    """Diffusion latents (batch, latent channels, h, w) to images (batch, 3, 8h, 8w) in [-1, 1]."""

    def __init__(self, vae: Any) -> None:
        super().__init__()
        config = vae.config
        self.post_quant_conv = getattr(vae, "post_quant_conv", None)
        self.decoder = vae.decoder
        #: the config of the VAE this half comes from (its ``scaling_factor``, ``latent_channels``)
        self.config = config
        self.scaling_factor = float(config.scaling_factor)
        self.shift_factor = float(getattr(config, "shift_factor", None) or 0.0)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        z = latents / self.scaling_factor + self.shift_factor
        if self.post_quant_conv is not None:
            z = self.post_quant_conv(z)
        return self.decoder(z)


__all__ = ["LatentDecoder"]
