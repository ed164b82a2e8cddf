"""Per-seed scalar metrics from one evaluation (the columns of ``curves.csv``).

Over the scored target tokens ``(n, t)`` with ``t < tgt_len[n]``:

* ``token_acc``: fraction with ``argmax_o p_t(o) = y_t``;
* ``attn_acc``: fraction of tokens with a gold position (``align[n, t] >= 0``) where the
  attention's argmax (over every attended position, EOS included) is the gold position;
  ``attn_acc_prev`` / ``attn_acc_next``: the same against ``align - 1`` / ``align + 1``;
* ``beta_acc``: the same with the argmax over source positions ``l < src_len[n]`` of the
  KTIW probe ``beta[t, :]``;
* ``loss``: the model's training objective on the samples.

Attention metrics are NaN when the distribution has no alignment or the model no attention.
"""

from __future__ import annotations

import numpy as np

from .models.base import Evaluation

COLUMNS = ("loss", "token_acc", "attn_acc", "attn_acc_prev", "attn_acc_next", "beta_acc")


def _match_rate(argmax: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mean over mask of argmax == target`` for each seed (``argmax [S, N, T]``)."""
    hits = ((argmax == target[None]) & mask[None]).sum(axis=(1, 2))
    count = mask.sum()
    return hits / count if count else np.full(argmax.shape[0], np.nan)


def seed_metrics(ev: Evaluation, tgt_len: np.ndarray, align: np.ndarray | None) -> dict[str, np.ndarray]:
    """The :data:`COLUMNS` metrics, each an array ``[S]``."""
    S, _, T = ev.correct.shape
    scored = np.arange(T)[None, :] < tgt_len[:, None]  # [N, T]
    out = {
        "loss": np.asarray(ev.loss, dtype=np.float64),
        "token_acc": (ev.correct & scored[None]).sum(axis=(1, 2)) / max(int(scored.sum()), 1),
    }
    nan = np.full(S, np.nan)
    if align is None or ev.attn_argmax is None:
        out.update(attn_acc=nan, attn_acc_prev=nan, attn_acc_next=nan)
    else:
        gold = align[:, :T]
        mask = scored & (gold >= 0)
        out["attn_acc"] = _match_rate(ev.attn_argmax, gold, mask)
        out["attn_acc_prev"] = _match_rate(ev.attn_argmax, gold - 1, mask)
        out["attn_acc_next"] = _match_rate(ev.attn_argmax, gold + 1, mask)
    if align is None or ev.beta is None:
        out["beta_acc"] = nan
    else:
        beta = np.where(np.isnan(ev.beta), -np.inf, ev.beta)
        gold = align[:, :T]
        out["beta_acc"] = _match_rate(beta.argmax(-1), gold, scored & (gold >= 0))
    return out
