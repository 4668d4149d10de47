from .pytorch import ModelLoader, ModelVariant

__all__ = ["ModelLoader", "ModelVariant"]
