"""Progress bars (tqdm) for the two slow things a build does: training and rendering."""

from __future__ import annotations

from typing import Any

import keras
from tqdm.auto import tqdm


def bar(total: int, description: str, unit: str) -> tqdm:
    """A bar on stderr showing count, rate and ETA; silent when there is nothing to do."""
    return tqdm(total=total, desc=description, unit=unit, disable=total == 0, dynamic_ncols=True, leave=True)


class KerasProgress(keras.callbacks.Callback):
    """One bar over all training batches, with the latest loss and accuracy."""

    def __init__(self, description: str):
        super().__init__()
        self.description = description
        self.progress: tqdm | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        total = self.params["epochs"] * (self.params.get("steps") or 0)
        self.progress = bar(total, self.description, "batch")

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        assert self.progress is not None
        self.progress.update(1)
        if logs and batch % 10 == 0:
            self.progress.set_postfix({k: f"{v:.3f}" for k, v in logs.items()}, refresh=False)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs and self.progress is not None:
            self.progress.set_postfix({k: f"{v:.3f}" for k, v in logs.items()})

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.progress is not None:
            self.progress.close()
