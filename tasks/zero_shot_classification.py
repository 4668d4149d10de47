"""Zero-shot image classification: the task base of image-text models that score an image against
label prompts (CLIP). A family's loader is its variant table, rows made by :func:`zero_shot_row`.

The inputs are one photograph shipped in ``assets/`` (:data:`SAMPLE_IMAGE`), preprocessed by the
model's own image processor, and a shipped list of label prompts (:data:`SAMPLE_LABELS`),
tokenized by the model's own tokenizer, as one dict the model takes as keywords:
``pixel_values`` ``(batch_size, 3, H, W)``, ``input_ids`` and ``attention_mask``
``(len(labels), longest prompt)``: padded to the longest prompt, as CLIP's processor with
``padding=True`` (upstream's call) gives them, and cut at the row's ``max_length``. ``batch_size``
repeats the image; every image is scored against the same prompts, so the text inputs carry no
batch dimension (:attr:`SHARED_INPUTS`).

Offline, without the processor, the documented constants stand in (the class's
:attr:`~ZeroShotImageClassifierLoader.IMAGE_MEAN`/``IMAGE_STD``, short side resized bicubic,
centre crop), step for step as the processor runs them; without the tokenizer, deterministic
synthetic ids with the tokenizer's layout (BOS, the words, EOS, padding). Each fallback warns once
(:class:`~..errors.PreprocessorFallbackWarning`). CLIP pools its text at the end-of-text token (the
largest id, or the first EOS), so every synthetic row ends in EOS and no word id reaches the
special ids.

``decode_output`` gives, per image, every label with its probability (the softmax of
``logits_per_image`` over the prompts), most probable first.

Only the standard library and ``base``/``config`` are imported at module level.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Sequence

from ..base import ForgeModel
from ..config import HubWeights, InputSpec, ModelConfig, ModelGroup, ModelTask, TestSpec
from ..inputs.vision import CLIP_MEAN, CLIP_STD

SAMPLE_IMAGE = "chelsea.jpg"
#: The label prompts every image is scored against, written for this project in CLIP's prompt
#: style. The shipped photographs are the first, third and fourth (a cat, an astronaut, coffee).
SAMPLE_LABELS = (
    "a photo of a cat",
    "a photo of a dog",
    "a photo of an astronaut",
    "a photo of a cup of coffee",
    "a photo of a bird",
    "a photo of a car",
    "a photo of a bowl of fruit",
    "a photo of a mountain lake",
)

#: OpenAI CLIP's byte-level BPE vocabulary (49,408 tokens) puts ``<|startoftext|>`` and
#: ``<|endoftext|>`` last; its tokenizer pads with ``<|endoftext|>``. (The legacy ids 0/1/2 in old
#: hub configs are not the tokenizer's.)
CLIP_BPE_SPECIAL_IDS = {"bos": 49406, "eos": 49407, "pad": 49407}
#: CLIP's context length: ``text_config.max_position_embeddings``, as ``clip.tokenize`` pads.
CLIP_CONTEXT_LENGTH = 77


def zero_shot_row(
    repo_id: str,
    revision: str,
    model_class: str,
    num_params: int,
    *,
    size: int = 224,
    max_length: int = CLIP_CONTEXT_LENGTH,
    special_ids: dict[str, int] = CLIP_BPE_SPECIAL_IDS,
    group: ModelGroup = ModelGroup.GENERALITY,
    layers_key: str | tuple[str, ...] = ("text_config.num_hidden_layers", "vision_config.num_hidden_layers"),
    test_num_layers: int | None = None,
    test_num_params: int | None = None,
    **test: Any,
) -> ModelConfig:
    """One zero-shot row: hub weights with the config shipped in ``configs/``, square images of
    ``size``, prompts cut at ``max_length`` tokens, the vocabulary's ``special_ids`` (bos, eos, pad)
    for synthetic ids; ``num_layers=`` cuts both towers (``layers_key``), and the suite runs them
    ``test_num_layers`` deep (``test_num_params`` parameters); ``test`` are other
    :class:`TestSpec` fields."""
    return ModelConfig(
        HubWeights.shipped(repo_id, revision, model_class, layers_key=layers_key),
        ModelTask.CV_ZS_IMAGE_CLS,
        num_params,
        group,
        InputSpec(image_size=(3, size, size), max_length=max_length, special_ids=special_ids),
        TestSpec(num_layers=test_num_layers, num_params=test_num_params, **test),
    )


class ZeroShotImageClassifierLoader(ForgeModel):
    """Inputs, preprocessing and decoding shared by every zero-shot image-classification family."""

    #: The text inputs hold the label prompts, shared by every image of the batch.
    SHARED_INPUTS: ClassVar[tuple[str, ...]] = ("input_ids", "attention_mask")
    #: The image processor's documented normalisation, used when the processor cannot be had.
    IMAGE_MEAN: ClassVar[tuple[float, float, float]] = CLIP_MEAN
    IMAGE_STD: ClassVar[tuple[float, float, float]] = CLIP_STD

    def _attention_heads(self) -> dict[str, int]:
        """Both towers' heads: a tensor-parallel device keeps whole ones in each."""
        config = self.load_config()
        return {
            "text_config.num_attention_heads": config.text_config.num_attention_heads,
            "vision_config.num_attention_heads": config.vision_config.num_attention_heads,
        }

    def __init__(self, variant: Any = None) -> None:
        super().__init__(variant)
        self._tokenizer: Any = None
        self._tokenizer_resolved = False
        self._transform: Any = None
        self._text: dict[tuple[str, ...], dict[str, Any]] = {}
        #: the prompts of the last ``load_inputs`` (what ``decode_output`` names)
        self.labels: tuple[str, ...] = SAMPLE_LABELS

    @property
    def architecture(self) -> dict[str, Any]:
        """The shipped architecture config as plain JSON; builds nothing."""
        return dict(_read_json(self._loader_dir() / self._variant_config.weights.config_file))

    # ---- inputs --------------------------------------------------------------------------------

    def _load_inputs(
        self, *, batch_size: int, image: Any = SAMPLE_IMAGE, labels: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """The image repeated ``batch_size`` times, and the label prompts (shared)."""
        from ..inputs.vision import batch, sample_image

        prompts = SAMPLE_LABELS if labels is None else check_labels(labels)
        text = self._encode(prompts)
        pixels = batch(self.preprocess(sample_image(image)), batch_size)
        self.labels = prompts
        return {"pixel_values": pixels, **{name: tensor.clone() for name, tensor in text.items()}}

    def preprocess(self, image: Any) -> Any:
        """One PIL image as the model's processor prepares it: a CHW float tensor."""
        if self._transform is None:
            self._transform = self._resolve_transform()
        return self._transform(image)

    def _resolve_transform(self) -> Any:
        from ..inputs.vision import own_image_processor, processor_transform

        size = self._variant_config.inputs.image_size[1]
        stands_in = (
            f"the processor's documented constants (short side resized to {size} bicubic, centre crop "
            f"{size}, mean {self.IMAGE_MEAN}, std {self.IMAGE_STD})"
        )
        processor = own_image_processor(self.source, stands_in, stacklevel=4)
        if processor is None:
            return processor_transform(size, mean=self.IMAGE_MEAN, std=self.IMAGE_STD)
        return lambda image: processor(images=image, return_tensors="pt")["pixel_values"][0]

    @property
    def tokenizer(self) -> Any:
        """The verified tokenizer of this variant, or None when only synthetic ids are possible.

        Resolved once per loader; a miss warns once (``PreprocessorFallbackWarning``).
        """
        if not self._tokenizer_resolved:
            from ..inputs.text import load_tokenizer

            weights = self._variant_config.weights
            # CLIP's unk, eos and pad are one token, so only bos is checked to differ from unk.
            self._tokenizer = load_tokenizer(
                weights.repo_id,
                weights.revision,
                vocab_size=self.architecture["text_config"]["vocab_size"],
                special_tokens=("bos_token",),
            )
            self._tokenizer_resolved = True
        return self._tokenizer

    def _encode(self, prompts: tuple[str, ...]) -> dict[str, Any]:
        """``input_ids`` and ``attention_mask`` of ``prompts``, padded to the longest one."""
        if prompts not in self._text:
            from ..inputs import check_input_bytes
            from ..inputs.text import synthetic_ids

            spec = self._variant_config.inputs
            # A tokenizer holds about 64 bytes per token before the tensors are made.
            check_input_bytes(64 * len(prompts) * spec.max_length, f"{len(prompts)} label prompts")
            tokenizer = self.tokenizer
            if tokenizer is not None:
                encoding = tokenizer(
                    list(prompts), padding=True, truncation=True, max_length=spec.max_length, return_tensors="pt"
                )
            else:
                special = spec.special_ids
                # Word ids stay below the special ids, which the vocabulary puts last.
                encoding = synthetic_ids(
                    list(prompts),
                    max_length=spec.max_length,
                    vocab_size=min(special.values()),
                    low=0,
                    pad_id=special["pad"],
                    cls_id=special["bos"],
                    sep_id=special["eos"],
                    token_type_ids=False,
                )
                longest = int(encoding["attention_mask"].sum(dim=1).max())
                encoding = {name: tensor[:, :longest].contiguous() for name, tensor in encoding.items()}
            self._text[prompts] = {name: encoding[name] for name in ("input_ids", "attention_mask")}
        return self._text[prompts]

    # ---- outputs -------------------------------------------------------------------------------

    def unpack_forward_output(self, output: Any) -> Any:
        """``logits_per_image`` ``(images, labels)``: what a frontend compares and trains on
        (the first entry of the tuple ``return_dict=False`` gives)."""
        import torch

        if isinstance(output, torch.Tensor):
            return output
        logits = output.get("logits_per_image") if hasattr(output, "get") else None
        if logits is None and isinstance(output, (list, tuple)) and output:
            logits = output[0]
        if not isinstance(logits, torch.Tensor):
            raise TypeError(
                "outputs must hold logits_per_image (a CLIPOutput, its tuple or the tensor), "
                f"got {type(output).__name__}"
            )
        return logits

    def decode_output(
        self, outputs: Any, *, labels: Sequence[str] | None = None, top_k: int | None = None, **kwargs: Any
    ) -> list[list[dict[str, Any]]]:
        """Per image, ``{"label", "probability"}`` for every label prompt (or the ``top_k`` most
        probable), most probable first; the probabilities are the softmax of ``logits_per_image``
        over the prompts, so each image's sum to 1. ``labels`` default to those of the last
        ``load_inputs``."""
        import torch

        from ..validation import check_outputs, check_top_k

        names = self.labels if labels is None else check_labels(labels)
        logits = self.unpack_forward_output(check_outputs(outputs))
        if logits.dim() != 2 or logits.shape[-1] != len(names):
            raise ValueError(
                f"logits_per_image must be (images, {len(names)}) for {len(names)} labels, got {tuple(logits.shape)}"
            )
        k = len(names) if top_k is None else min(check_top_k(top_k), len(names))
        probs = torch.softmax(logits.detach().float(), dim=-1)
        results = []
        for row in probs:
            values, ids = row.sort(descending=True)
            results.append([{"label": names[i], "probability": p} for p, i in zip(values[:k].tolist(), ids.tolist())])
        return results

    def post_process(self, outputs: Any) -> list[list[dict[str, Any]]]:
        """Upstream's name for ``decode_output`` (which returns, never prints)."""
        return self.decode_output(outputs)


def check_labels(labels: Any) -> tuple[str, ...]:
    """``labels`` as a tuple of non-empty strings: a list or tuple of at least one."""
    if not isinstance(labels, (list, tuple)) or not all(isinstance(label, str) for label in labels):
        raise TypeError(f"labels must be a list or tuple of str, got {type(labels).__name__} {labels!r:.80}")
    if not labels or not all(label.strip() for label in labels):
        raise ValueError(f"labels must be at least one non-empty prompt, got {labels!r:.80}")
    return tuple(labels)


@lru_cache(maxsize=None)
def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


__all__ = [
    "CLIP_BPE_SPECIAL_IDS",
    "CLIP_CONTEXT_LENGTH",
    "SAMPLE_IMAGE",
    "SAMPLE_LABELS",
    "ZeroShotImageClassifierLoader",
    "check_labels",
    "zero_shot_row",
]
