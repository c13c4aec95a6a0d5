"""Text scorers: each equals the function it wraps, ranks a real two-domain mixture, and validates parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from thresher.data.table import Table
from thresher.errors import InvalidParameterError
from thresher.scores.text import DSIRWeight, LikelihoodRatio, MooreLewis, NearDuplicateCount, Perplexity, TextQuality
from thresher.select.base import Budget
from thresher.select.sampling import ImportanceResampling
from thresher.text.dsir import DSIR
from thresher.text.ngram import NgramLM

PETS = ["the cat purrs on the sofa", "a dog barks at the cat", "the kitten sleeps on the rug", "my dog likes a walk"]
MONEY = ["the bank raised the rate", "stocks fell on the news", "the fund sold its bonds", "a trader bought shares"]
DOCS = ["the dog sleeps on the sofa", "the fund raised the rate", "a cat barks", "stocks sold on the news"]


def _table(texts: list[str]) -> Table:
    return Table(np.arange(len(texts)) * 3 + 5, columns={"text": np.array(texts, dtype=object)})


def test_scorers_equal_the_underlying_models() -> None:
    t = _table(DOCS)
    np.testing.assert_allclose(Perplexity(reference=PETS, order=2).score(t), NgramLM(order=2).fit(PETS).perplexity(DOCS))
    a, b = NgramLM(order=2).fit(PETS), NgramLM(order=2).fit(MONEY)
    (la, na), (lb, nb) = a.log_probs(DOCS), b.log_probs(DOCS)
    np.testing.assert_allclose(MooreLewis(target=PETS, general=MONEY, order=2).score(t), -la / na + lb / nb)
    # cross-fitted general model with 4 folds on 4 documents: each scored by a model of the other three
    loo = MooreLewis(target=PETS, order=2, n_folds=4).score(t, seed=0)
    for i in range(4):
        other = NgramLM(order=2).fit([d for j, d in enumerate(DOCS) if j != i])
        lo, no = other.log_probs([DOCS[i]])
        assert loo[i] == pytest.approx(-la[i] / na[i] + lo[0] / no[0])
    np.testing.assert_allclose(LikelihoodRatio(target=PETS, reference=MONEY, order=2).score(t), la / na - lb / nb)
    np.testing.assert_allclose(
        LikelihoodRatio(target=PETS, reference=MONEY, order=2, normalize="none").score(t), la - lb
    )
    np.testing.assert_allclose(
        DSIRWeight(target=PETS, num_buckets=500).score(t),
        DSIR(num_buckets=500).fit(PETS, DOCS).log_importance_weights(DOCS),
    )


def test_corpus_from_a_file(tmp_path: Path) -> None:
    p = tmp_path / "pets.txt"
    p.write_text("\n".join(PETS) + "\n\n")
    t = _table(DOCS)
    np.testing.assert_allclose(Perplexity(reference=p, order=2).score(t), Perplexity(reference=PETS, order=2).score(t))
    with pytest.raises(InvalidParameterError, match="`reference` of Perplexity must be a list of documents"):
        Perplexity(reference=tmp_path / "missing.txt").score(t)


def test_parameter_errors() -> None:
    t = _table(DOCS)
    with pytest.raises(InvalidParameterError, match="exactly one of `reference` or `kenlm_model`"):
        Perplexity().score(t)
    with pytest.raises(InvalidParameterError, match="exactly one of `target` or `target_model`"):
        LikelihoodRatio(reference=MONEY).score(t)
    with pytest.raises(InvalidParameterError, match="`n_folds` of MooreLewis must be an integer >= 2; got 1."):
        MooreLewis(target=PETS, n_folds=1).score(t)
    with pytest.raises(InvalidParameterError, match="`rules` of TextQuality must be one of"):
        TextQuality(rules=["no_such_rule"]).score(t)


def test_moore_lewis_on_tiny_tables() -> None:
    # fewer rows than folds: one fold per row; a single row falls back to the in-sample model
    two = MooreLewis(target=PETS, order=2).score(_table(DOCS[:2]), seed=0)
    a = NgramLM(order=2).fit(PETS)
    for i, other in ((0, DOCS[1]), (1, DOCS[0])):
        lo, no = NgramLM(order=2).fit([other]).log_probs([DOCS[i]])
        la, na = a.log_probs([DOCS[i]])
        assert two[i] == pytest.approx(-la[0] / na[0] + lo[0] / no[0])
    one = MooreLewis(target=PETS, order=2).score(_table(DOCS[:1]), seed=0)
    lo, no = NgramLM(order=2).fit(DOCS[:1]).log_probs(DOCS[:1])
    la, na = a.log_probs(DOCS[:1])
    assert one[0] == pytest.approx(-la[0] / na[0] + lo[0] / no[0])


def test_quality_and_near_duplicate_scorers() -> None:
    base = "one two three four five six seven eight nine ten eleven twelve"
    t = _table([base, base + " thirteen", "lorem ipsum {", "completely different words in this one document here"])
    assert NearDuplicateCount(ngram=3).score(t).tolist() == [2.0, 2.0, 1.0, 1.0]
    q = TextQuality(rules=["lorem_ipsum", "curly_bracket"]).score(t)
    assert q.tolist() == [1.0, 1.0, 0.0, 1.0]


LICENSES = Path("/usr/share/common-licenses")
FORTUNES = Path("/usr/share/games/fortunes")


@pytest.mark.skipif(not (LICENSES.is_dir() and FORTUNES.is_dir()), reason="needs base-files and fortunes")
def test_real_mixture_target_domain_ranked_first_and_resampled() -> None:
    from thresher.data.text import load_debian_text_mixture

    pool = load_debian_text_mixture(150, domains=("license", "fortune"), seed=0)
    target = list(load_debian_text_mixture(60, domains=("fortune",), seed=99).text)
    general = list(load_debian_text_mixture(100, seed=7).text)  # man pages, licenses and fortunes
    is_target = pool.groups == "fortune"
    for scorer in (
        DSIRWeight(target=target),
        LikelihoodRatio(target=target, reference=general, order=3),
        MooreLewis(target=target, order=3),  # general model cross-fitted on the pool itself
    ):
        s = scorer.score(pool, seed=0)
        s = s if scorer.higher_is_better else -s
        assert roc_auc_score(is_target, s) > 0.95, scorer.name
    scored = pool.with_column("score.dsir", DSIRWeight(target=target).score(pool))
    sel = ImportanceResampling(by="score.dsir", log=True).select(scored, Budget(n=50), seed=0)
    assert is_target[pool.positions(sel.row_ids)].mean() > 0.9
