"""DETR (DEtection TRansformer) with a ResNet-50 backbone, Hugging Face ``facebook/detr-resnet-50``:
COCO object detection as a set of 100 query predictions, on the set-prediction detection task base.

The backbone is timm's ResNet-50 inside the checkpoint (its batch norms frozen into buffers), so
neither a random build nor the pretrained load fetches backbone weights of its own: transformers 5
builds the timm backbone with ``pretrained=False`` whatever the config's ``use_pretrained_backbone``.
"""

from __future__ import annotations

from ...config import HubWeights, ModelGroup, StrEnum
from ...tasks.object_detection import SetPredictionDetectorLoader, detr_row


class ModelVariant(StrEnum):
    RESNET_50 = "resnet50_backbone"  # upstream's ResNet50_Backbone


class ModelLoader(SetPredictionDetectorLoader):
    _VARIANTS = {
        ModelVariant.RESNET_50: detr_row(
            HubWeights.shipped(
                "facebook/detr-resnet-50", "1d5f47bd3bdd2c4bbfa585418ffe6da5028b4c0b", "DetrForObjectDetection"
            ),
            41_524_768,
            group=ModelGroup.RED,
            input_size=(3, 192, 320),
        ),
    }
    DEFAULT_VARIANT = ModelVariant.RESNET_50
