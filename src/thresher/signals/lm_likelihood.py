"""Conditional LM likelihoods as signals: sharded through executors, resumable through the run directory.

:func:`conditional_log_probs` scores (prompt, response) examples with a local causal LM
(:class:`~thresher.text.likelihood.CausalLM`) in shards (``make_shards`` plus any
executor); with ``cache_dir`` each finished shard is written atomically under a key
that fingerprints the model and the inputs, so a killed run recomputes only the shards
it had not finished. The registered signals turn tables into the matrices the pair and
instruction scorers read:

* ``pair_likelihood`` (pair tables): ``lm.logp`` (n, 2) = log pi(chosen|prompt),
  log pi(rejected|prompt); ``lm.n_tokens`` (n, 2); with ``hidden`` also
  ``lm.hidden_chosen`` / ``lm.hidden_rejected`` (n, d), summed final-layer hidden states
  of the response tokens (for CHES);
* ``pair_reference_likelihood``: the same log-probabilities under a reference model,
  ``ref.logp`` and ``ref.n_tokens`` (for the DPO implicit reward);
* ``response_likelihood`` (prompt -> response tables): ``lm.response_logp`` (n, 2) =
  log pi(y|x), log pi(y) and ``lm.response_tokens`` (n, 2) (for IFD and perplexity).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thresher._registry import register_signal
from thresher._threads import follows_threads
from thresher._typing import Seed
from thresher._validation import check_int, fail
from thresher.data.table import Table
from thresher.execute.base import Executor, Shard, get_executor, make_shards
from thresher.signals.oof import SignalResult
from thresher.text.likelihood import CausalLM, ConditionalLogProbs

__all__ = ["conditional_log_probs", "PairLikelihood", "PairReferenceLikelihood", "ResponseLikelihood"]

_LOADED: dict[tuple[Any, ...], CausalLM] = {}  # one loaded model per process and setting (workers reuse it)


def _spec(lm: CausalLM) -> dict[str, Any]:
    return {k: getattr(lm, k) for k in ("path", "batch_size", "max_length", "device", "max_batch_tokens",
                                         "padding_side", "dtype")}


def _cached(spec: dict[str, Any]) -> CausalLM:
    key = tuple(sorted(spec.items()))
    if key not in _LOADED:
        _LOADED[key] = CausalLM(**spec)
    return _LOADED[key]


def _fingerprint(spec: dict[str, Any], prompts: Sequence[str], responses: Sequence[str], hidden: bool) -> str:
    h = hashlib.sha256(json.dumps({**spec, "hidden": hidden}, sort_keys=True).encode())
    root = Path(spec["path"])
    for f in sorted(root.glob("*.json")) + sorted(root.glob("*.safetensors")) + sorted(root.glob("*.bin")):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    for p, r in zip(prompts, responses):
        h.update(p.encode("utf-8", "replace") + b"\x00" + r.encode("utf-8", "replace") + b"\x01")
    return h.hexdigest()[:24]


@dataclass(frozen=True)
class _ShardJob:
    """Score one shard (picklable, so any executor can run it); write it to ``cache`` when given."""

    spec: dict[str, Any]
    prompts: Sequence[str]
    responses: Sequence[str]
    hidden: bool
    cache: str | None

    def __call__(self, shard: Shard) -> ConditionalLogProbs:
        lm = _cached(self.spec)
        r = lm.conditional_log_probs(self.prompts[shard.slice()], self.responses[shard.slice()], hidden=self.hidden)
        if self.cache is not None:
            from thresher.store.atomic import atomic_path

            arrays: dict[str, Any] = {"logp": r.logp, "n_tokens": r.n_tokens, "is_truncated": r.is_truncated}
            if r.hidden is not None:
                arrays["hidden"] = r.hidden
            with atomic_path(Path(self.cache) / f"shard-{shard.index:05d}.npz") as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, **arrays)
        return r


def _read_shard(path: Path) -> ConditionalLogProbs:
    with np.load(path) as z:
        return ConditionalLogProbs(z["logp"], z["n_tokens"], z["is_truncated"], z["hidden"] if "hidden" in z else None)


def conditional_log_probs(
    model: CausalLM | str | os.PathLike[str],
    prompts: Sequence[str],
    responses: Sequence[str],
    *,
    hidden: bool = False,
    shard_size: int = 4096,
    executor: Executor | str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ConditionalLogProbs:
    """Score each response given its prompt with a local causal LM, in shards, resuming finished shards.

    Parameters
    ----------
    model
        A :class:`CausalLM` or the directory of a saved model.
    shard_size
        Examples per shard (the unit of parallelism and of resumption).
    cache_dir
        Folder for finished shards (kept under a fingerprint of model and inputs).

    Examples
    --------
    >>> conditional_log_probs("no/such/model", ["Q"], ["A"])  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InvalidParameterError: `path` of CausalLM must be a local directory ...
    """
    owner = "conditional_log_probs"
    lm = model if isinstance(model, CausalLM) else CausalLM(model)
    check_int(shard_size, "shard_size", owner, low=1)
    prompts, responses = [str(p) for p in prompts], [str(r) for r in responses]
    if len(prompts) != len(responses):
        raise fail("responses", owner, f"as many as the prompts ({len(prompts)})", len(responses))
    if not Path(lm.path).is_dir():
        raise fail("path", "CausalLM", "a local directory with a saved causal language model", lm.path)
    spec = _spec(lm)
    shards = make_shards(len(prompts), shard_size=shard_size, seed=0)
    cache = None
    if cache_dir is not None:
        cache = str(Path(cache_dir) / _fingerprint(spec, prompts, responses, hidden))
    done = {s.index: Path(cache) / f"shard-{s.index:05d}.npz" for s in shards} if cache else {}
    todo = [s for s in shards if not (cache and done[s.index].exists())]
    if isinstance(model, CausalLM) and hasattr(model, "model_"):
        _LOADED.setdefault(tuple(sorted(spec.items())), model)  # reuse an already loaded model
    fresh = dict(zip((s.index for s in todo), get_executor(executor).map(
        _ShardJob(spec, prompts, responses, hidden, cache), todo)))
    parts = [fresh[s.index] if s.index in fresh else _read_shard(done[s.index]) for s in shards]
    if not parts:
        return ConditionalLogProbs(np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool),
                                   np.zeros((0, 0)) if hidden else None)
    hs = [p.hidden for p in parts]
    return ConditionalLogProbs(
        np.concatenate([p.logp for p in parts]),
        np.concatenate([p.n_tokens for p in parts]).astype(np.int64),
        np.concatenate([p.is_truncated for p in parts]).astype(bool),
        np.concatenate([h for h in hs if h is not None]) if hidden else None,
    )


class _LMSignal:
    """Shared parameters of the LM-likelihood signals (constructors only store them)."""

    requires: frozenset[str] = frozenset()

    def __init__(
        self,
        model: str | None = None,
        batch_size: int = 8,
        max_length: int = 512,
        max_batch_tokens: int = 8192,
        device: str = "cpu",
        dtype: str = "float32",
        shard_size: int = 4096,
        run_dir: str | None = None,
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.max_length = max_length
        self.max_batch_tokens = max_batch_tokens
        self.device = device
        self.dtype = dtype
        self.shard_size = shard_size
        self.run_dir = run_dir

    def _lm(self) -> CausalLM:
        if self.model is None:
            raise fail("model", type(self).__name__, "the directory of a saved causal LM", None)
        return CausalLM(self.model, batch_size=self.batch_size, max_length=self.max_length, device=self.device,
                        max_batch_tokens=self.max_batch_tokens, dtype=self.dtype)

    def _score(self, prompts: list[str], responses: list[str], hidden: bool, executor: Any) -> ConditionalLogProbs:
        return conditional_log_probs(self._lm(), prompts, responses, hidden=hidden, shard_size=self.shard_size,
                                     executor=executor, cache_dir=self.run_dir)


def _pair_logps(sig: _LMSignal, table: Table, hidden: bool, executor: Any) -> tuple[ConditionalLogProbs, int]:
    table.require(("prompt", "chosen", "rejected"), type(sig).__name__)
    prompts = [str(x) for x in table.column("prompt")]
    both = [str(x) for x in table.column("chosen")] + [str(x) for x in table.column("rejected")]
    return sig._score(prompts + prompts, both, hidden, executor), table.n_rows


@register_signal("pair_likelihood")
class PairLikelihood(_LMSignal):
    """Compute log pi(chosen|prompt), log pi(rejected|prompt), token counts and hidden sums of a pair table.

    Parameters
    ----------
    model
        Directory of the policy model (loaded with ``local_files_only``).
    hidden
        Also produce the summed final-layer hidden states (for CHES).
    """

    name = "pair_likelihood"
    produces = ("lm.logp", "lm.n_tokens", "lm.hidden_chosen", "lm.hidden_rejected")

    def __init__(
        self,
        model: str | None = None,
        batch_size: int = 8,
        max_length: int = 512,
        max_batch_tokens: int = 8192,
        device: str = "cpu",
        dtype: str = "float32",
        shard_size: int = 4096,
        run_dir: str | None = None,
        hidden: bool = True,
    ) -> None:
        super().__init__(model, batch_size, max_length, max_batch_tokens, device, dtype, shard_size, run_dir)
        self.hidden = hidden

    @follows_threads(torch=True)  # torch threads of the forward passes follow the `threads` setting
    def compute(self, table: Table, *, seed: Seed = 0, executor: Executor | None = None) -> SignalResult:
        """Return the ``lm.*`` matrices for ``table`` (chosen in column 0, rejected in column 1)."""
        r, n = _pair_logps(self, table, self.hidden, executor)
        out = {"lm.logp": np.stack([r.logp[:n], r.logp[n:]], axis=1),
               "lm.n_tokens": np.stack([r.n_tokens[:n], r.n_tokens[n:]], axis=1).astype(np.float64)}
        if self.hidden and r.hidden is not None:
            out["lm.hidden_chosen"], out["lm.hidden_rejected"] = r.hidden[:n], r.hidden[n:]
        return SignalResult(out, {"lm_model": str(self.model), "lm_truncated": int(r.is_truncated.sum())})


@register_signal("pair_reference_likelihood")
class PairReferenceLikelihood(_LMSignal):
    """Compute log pi_ref(chosen|prompt) and log pi_ref(rejected|prompt) under a reference model (for DPO margins)."""

    name = "pair_reference_likelihood"
    produces = ("ref.logp", "ref.n_tokens")

    @follows_threads(torch=True)  # torch threads of the forward passes follow the `threads` setting
    def compute(self, table: Table, *, seed: Seed = 0, executor: Executor | None = None) -> SignalResult:
        """Return the ``ref.*`` matrices for ``table``."""
        r, n = _pair_logps(self, table, False, executor)
        return SignalResult({"ref.logp": np.stack([r.logp[:n], r.logp[n:]], axis=1),
                             "ref.n_tokens": np.stack([r.n_tokens[:n], r.n_tokens[n:]], axis=1).astype(np.float64)},
                            {"ref_model": str(self.model)})


@register_signal("response_likelihood")
class ResponseLikelihood(_LMSignal):
    """Compute log pi(y|x) and the unconditional log pi(y) of prompt -> response rows (for IFD and perplexity).

    Parameters
    ----------
    response_column
        Column holding the response (``"response"``; ``"chosen"`` scores a pair table's chosen side).
    """

    name = "response_likelihood"
    produces = ("lm.response_logp", "lm.response_tokens")

    def __init__(
        self,
        model: str | None = None,
        batch_size: int = 8,
        max_length: int = 512,
        max_batch_tokens: int = 8192,
        device: str = "cpu",
        dtype: str = "float32",
        shard_size: int = 4096,
        run_dir: str | None = None,
        response_column: str = "response",
    ) -> None:
        super().__init__(model, batch_size, max_length, max_batch_tokens, device, dtype, shard_size, run_dir)
        self.response_column = response_column

    @follows_threads(torch=True)  # torch threads of the forward passes follow the `threads` setting
    def compute(self, table: Table, *, seed: Seed = 0, executor: Executor | None = None) -> SignalResult:
        """Return ``lm.response_logp`` and ``lm.response_tokens`` (conditional in column 0)."""
        table.require(("prompt", self.response_column), type(self).__name__)
        prompts = [str(x) for x in table.column("prompt")]
        resp = [str(x) for x in table.column(self.response_column)]
        n = len(resp)
        r = self._score(prompts + [""] * n, resp + resp, False, executor)
        return SignalResult({"lm.response_logp": np.stack([r.logp[:n], r.logp[n:]], axis=1),
                             "lm.response_tokens": np.stack([r.n_tokens[:n], r.n_tokens[n:]], axis=1).astype(np.float64)},
                            {"lm_model": str(self.model)})
