"""A simulated cohort with time-varying confounding and treatment–confounder
feedback, and the exact risks under each treatment strategy (by dynamic
programming over the confounder's states, no sampling).

Per period t (confounder measured, treatment decided, then the outcome):

- L_0 ~ Bernoulli(0.3); a person not yet treated starts treatment with
  probability expit(A0 + A1·L_t) (A1 > 0: sicker people are treated more);
- the outcome occurs with probability expit(B0 + B1·L_t + B2·treated_t)
  (B2 < 0: treatment protects; L_t raises the risk, so L confounds);
- L_{t+1} ~ Bernoulli(expit(G0 + G1·L_t + G2·treated_t)) (G2 < 0: treatment
  lowers the confounder: feedback, so L is also on the causal path and
  conditioning on it in a regression would be wrong).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

P_L0 = 0.3
A0, A1 = -2.0, 2.0
B0, B1, B2 = -3.0, 1.5, -1.0
G0, G1, G2 = -1.5, 2.5, -1.0


def expit(x: np.ndarray | float) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))


def simulate(n: int, periods: int, seed: int, regime: str = "natural") -> pd.DataFrame:
    """Person-period rows: id, period, L, treated (1 from the start), event; with
    ``regime`` "always" or "never", treatment is set for everyone instead."""
    rng = np.random.default_rng(seed)
    alive = np.ones(n, bool)
    treated = np.zeros(n, bool)
    L = rng.random(n) < P_L0
    frames = []
    for t in range(periods):
        idx = np.flatnonzero(alive)
        start = ~treated[idx] & (rng.random(len(idx)) < expit(A0 + A1 * L[idx]))
        if regime != "natural":
            start = np.full(len(idx), regime == "always")
        treated[idx[start]] = True
        ev = rng.random(len(idx)) < expit(B0 + B1 * L[idx] + B2 * treated[idx])
        frames.append(
            pd.DataFrame(
                {
                    "id": idx,
                    "period": t,
                    "L": L[idx].astype(int),
                    "treated": treated[idx].astype(int),
                    "event": ev.astype(int),
                }
            )
        )
        alive[idx[ev]] = False
        L = rng.random(n) < expit(G0 + G1 * L + G2 * treated)
    return pd.concat(frames, ignore_index=True).sort_values(["id", "period"], ignore_index=True)


def _step(state: np.ndarray, treat_prob: np.ndarray) -> tuple[np.ndarray, float]:
    """One period from ``state[l, s]`` (probability of being alive, confounder l,
    treated s at the period's start, before this period's decision), where an
    untreated person starts with ``treat_prob[l]``. Returns the next state and the
    probability of the event in this period."""
    after = np.zeros((2, 2))
    for lv in (0, 1):
        after[lv, 1] += state[lv, 1] + state[lv, 0] * treat_prob[lv]
        after[lv, 0] += state[lv, 0] * (1 - treat_prob[lv])
    nxt = np.zeros((2, 2))
    event = 0.0
    for lv in (0, 1):
        for s in (0, 1):
            h = float(expit(B0 + B1 * lv + B2 * s))
            event += after[lv, s] * h
            q = float(expit(G0 + G1 * lv + G2 * s))
            nxt[1, s] += after[lv, s] * (1 - h) * q
            nxt[0, s] += after[lv, s] * (1 - h) * (1 - q)
    return nxt, event


NATURAL = np.array([float(expit(A0)), float(expit(A0 + A1))])


def risk(periods: int, regime: str, grace: int = 0, start: np.ndarray | None = None) -> float:
    """Exact risk by the end of ``periods`` from a start distribution of L among the
    untreated (default: L_0), under ``regime``: "always" (start at time zero),
    "never", or "grace" (treatment as it naturally happens before period ``grace``,
    and anyone not yet treated starts then)."""
    state = np.zeros((2, 2))
    state[:, 0] = start if start is not None else [1 - P_L0, P_L0]
    total = 0.0
    for j in range(periods):
        if regime == "always":
            prob = np.ones(2)
        elif regime == "never":
            prob = np.zeros(2)
        else:
            prob = NATURAL if j < grace else np.ones(2)
        state, ev = _step(state, prob)
        total += ev
    return total


def sequential_truth(periods: int, follow_up: int) -> float:
    """The pooled sequential-trials estimand: over trials k = 0..periods − follow_up,
    the risk difference (start at k vs never) averaged over everyone eligible at k
    (alive and untreated), each trial weighted by how many are eligible."""
    state = np.zeros((2, 2))
    state[:, 0] = [1 - P_L0, P_L0]
    num = den = 0.0
    for _k in range(periods - follow_up + 1):
        eligible = state[:, 0].copy()  # alive, untreated, by L
        n_k = eligible.sum()
        mix = eligible / n_k
        rd = risk(follow_up, "always", start=mix) - risk(follow_up, "never", start=mix)
        num += n_k * rd
        den += n_k
        state, _ = _step(state, NATURAL)
    return num / den
