"""Kept so the documented ``tt_forge_models.training`` path works; the code is :mod:`.tasks.training`."""

from .tasks.training import (
    OBJECTIVES,
    Objective,
    check_dropout,
    objective,
    prepare_batch,
    set_dropout,
    task_loss,
    train,
)

__all__ = [
    "OBJECTIVES",
    "Objective",
    "check_dropout",
    "objective",
    "prepare_batch",
    "set_dropout",
    "task_loss",
    "train",
]
