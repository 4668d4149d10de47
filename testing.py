"""Helpers for the test suites of frontends that vendor this package.

``all_variants()`` gives every (loader, variant) as pytest parameters with IDs such as
``resnet/pytorch-resnet50``; listing imports no torch.
"""

from __future__ import annotations

from typing import Any

from .discovery import VariantEntry, list_variants
from .inputs import call_model

# Variants whose test build has more parameters than this get the ``large`` mark, so suites can
# deselect them. The test build is the reduced one a row declares (test_num_params), else full size.
LARGE_PARAMS = 1_000_000_000


def all_variants(*, large_params: int = LARGE_PARAMS, **filters: Any) -> list[Any]:
    """``pytest.param(entry, id=entry.id)`` for every variant that passes ``filters``.

    ``filters`` are those of :func:`list_variants`: model, task, source, group, framework, name,
    max_params. Variants whose test build (``test_num_params``, else ``num_params``) has more than
    ``large_params`` parameters carry ``pytest.mark.large``.
    """
    import pytest

    params = []
    for entry in list_variants(**filters):
        size = entry.config.test_num_params or entry.config.num_params or 0
        marks = [pytest.mark.large] if size > large_params else []
        params.append(pytest.param(entry, id=entry.id, marks=marks))
    return params


__all__ = ["LARGE_PARAMS", "VariantEntry", "all_variants", "call_model", "list_variants"]
