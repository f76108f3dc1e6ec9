"""How separable the document embeddings are: cross-validated balanced accuracy of a linear classifier."""

from __future__ import annotations

import numpy as np


def separability_score(embeddings: np.ndarray, labels: np.ndarray, *, folds: int = 5) -> float:
    """Mean 5-fold balanced accuracy of a class-balanced logistic regression on the embeddings.

    0.5 is chance. Balanced accuracy and class weights because the data are 75% real: an unweighted model that
    predicts "real" for everything scores 0.75 on plain accuracy and 0.5 here.
    """
    from sklearn.linear_model import LogisticRegression  # here: importing scikit-learn takes a second
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    embeddings = np.asarray(embeddings, dtype=np.float64)
    labels = np.asarray(labels).astype(int).ravel()
    if not np.isfinite(embeddings).all():
        return 0.0
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    model = LogisticRegression(class_weight="balanced")
    return float(cross_val_score(model, embeddings, labels, cv=cv, scoring="balanced_accuracy").mean())
