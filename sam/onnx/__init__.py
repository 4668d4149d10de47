from .loader import ModelLoader, ModelVariant

__all__ = ["ModelLoader", "ModelVariant"]
