"""The OOF model choice: cross-validated log-losses equal scikit-learn's, the winner is used and recorded."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_circles
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.signals.oof import CANDIDATES, OutOfFoldProbs, choose_estimator, make_estimator, out_of_fold_probs


def _circles(n: int = 600, seed: int = 0) -> Table:
    X, y = make_circles(n_samples=n, noise=0.08, factor=0.5, random_state=seed)
    return Table(columns={"label": y}, matrices={"embeddings": X})


def test_log_losses_equal_sklearn_cross_val_predict_on_the_same_folds() -> None:
    t = _circles()
    choice = choose_estimator(t, candidates=("logreg", "knn"), n_splits=3, seed=4)
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=4)
    for name in ("logreg", "knn"):
        P = cross_val_predict(make_estimator(name), t.embeddings, t.labels, cv=cv, method="predict_proba")
        assert choice.log_loss[name] == pytest.approx(log_loss(t.labels, P), abs=1e-10)
        # binary: the multi-class Brier score is twice scikit-learn's brier_score_loss of the positive class
        assert choice.brier[name] == pytest.approx(2 * brier_score_loss(t.labels, P[:, 1]), abs=1e-10)
    assert choice.n_rows == 600 and choice.n_splits == 3 and choice.criterion == "log_loss"
    by_brier = choose_estimator(t, candidates=("logreg", "knn"), n_splits=3, seed=4, criterion="brier")
    assert by_brier.name == min(by_brier.brier, key=lambda k: by_brier.brier[k])


def test_non_linear_data_does_not_get_logistic_regression() -> None:
    choice = choose_estimator(_circles(), seed=0)
    assert sorted(choice.log_loss) == sorted(CANDIDATES)
    assert choice.name == min(choice.log_loss, key=lambda k: choice.log_loss[k]) != "logreg"
    assert choice.log_loss["logreg"] > 0.6  # circles are not linearly separable: about log 2


def test_choice_subsamples_but_keeps_every_class() -> None:
    rng = np.random.default_rng(0)
    y = np.concatenate([np.zeros(3000, int), np.ones(3000, int), np.full(4, 2)])  # a rare class of 4 rows
    X = rng.normal(size=(len(y), 3)) + y[:, None]
    choice = choose_estimator(Table(columns={"label": y}, matrices={"embeddings": X}), ("logreg",), max_rows=500, seed=0)
    assert 500 <= choice.n_rows <= 504  # the rare class is kept whole


def test_auto_equals_the_chosen_model_and_the_signal_records_it() -> None:
    t = _circles(n=300, seed=1)
    fast = ("logreg", "knn")  # the forest is covered above; kept out here for speed
    choice = choose_estimator(t, fast, n_splits=3, seed=2)
    assert choice.name == "knn"
    P_auto, _ = out_of_fold_probs(t, n_splits=4, seed=2, candidates=fast)
    P_named, _ = out_of_fold_probs(t, choice.name, n_splits=4, seed=2)
    np.testing.assert_allclose(P_auto, P_named, atol=1e-12)
    res = OutOfFoldProbs(n_splits=4, candidates=fast).compute(t, seed=2)
    np.testing.assert_allclose(res.matrices["probs"], P_auto, atol=1e-12)
    assert res.meta["oof_model"] == choice.name
    assert res.meta["oof_choice"]["log_loss"] == pytest.approx(choice.log_loss)
    assert OutOfFoldProbs("logreg", n_splits=4).compute(t, seed=2).meta["oof_model"] == "logreg"
    assert "oof_choice" not in OutOfFoldProbs("knn", n_splits=4).compute(t, seed=2).meta


def test_errors_name_the_parameter() -> None:
    t = _circles(n=60)
    with pytest.raises(InvalidParameterError, match="`estimator` of make_estimator must be one of"):
        out_of_fold_probs(t, "svm", n_splits=3)
    with pytest.raises(InvalidParameterError, match="`estimator` of out_of_fold_probs must be 'auto', a model name"):
        out_of_fold_probs(t, object(), n_splits=3)
    with pytest.raises(InvalidParameterError, match="`candidates` of choose_estimator"):
        choose_estimator(t, candidates=())
    with pytest.raises(InvalidParameterError, match="`criterion` of choose_estimator"):
        choose_estimator(t, criterion="accuracy")
