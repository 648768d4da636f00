"""A fitted classifier seen with its labels as positions, for SACRO-ML's attribute attack.

SACRO-ML's attribute-inference attack takes the model's predicted label to be
the position of the largest of its class probabilities (it compares the two,
and indexes the probabilities by the label). That holds for a model fitted on
labels 0, 1, ..., k-1; :class:`LabelIndexModel` makes it hold for any other
labels (strings, 1 and 2) without changing a single probability.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class LabelIndexModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """``model`` with labels given as their positions in ``model.classes_``."""

    def __init__(self, model: Any) -> None:
        self.model = model

    @property
    def classes_(self) -> np.ndarray:
        return np.arange(len(self.model.classes_))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.model.classes_, self.model.predict(x))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_proba(x))
