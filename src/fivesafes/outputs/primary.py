"""Primary disclosure checks: which cells are unsafe in themselves, and why.

Every rule is computed over whole arrays (numpy), one boolean per cell; only
the flagged cells then get their reasons written out, in words a checker
understands. The p% rule and the n,k rule are reported separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fivesafes.outputs.objects import FREQUENCY_KINDS, Cells
from fivesafes.outputs.policy import Policy

STATUSES = ("pass", "round", "review", "suppress")  # in increasing severity


@dataclass
class Verdict:
    """The decision on one cell or coefficient."""

    cell: int
    label: tuple[str, ...]
    value: float  # the true value
    status: str  # pass | suppress | round | review
    reasons: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)  # machine-readable rule names
    safe_value: float | None = None  # None when withheld
    margin: bool = False

    def to_dict(self, dims: list[str]) -> dict[str, Any]:
        return {
            "cell": self.cell,
            "labels": dict(zip(dims, self.label, strict=True)),
            "margin": self.margin,
            "value": _num(self.value),
            "safe_value": None if self.safe_value is None else _num(self.safe_value),
            "status": self.status,
            "rules": self.rules,
            "reasons": self.reasons,
        }


def _num(x: float) -> float | int | None:
    if x is None or np.isnan(x):
        return None
    return int(x) if float(x).is_integer() else float(x)


def _fmt(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.4g}"


def round_values(values: np.ndarray, method: str, base: int) -> np.ndarray:
    """Rounding as the policy says: ``nearest`` (halves up) or ``midpoint6``
    (OpenSAFELY: ceiling to the base, less half the base, zero kept zero)."""
    v = np.asarray(values, dtype=float)
    if method == "nearest":
        return base * np.floor(v / base + 0.5)
    if method == "midpoint6":
        return np.ceil(v / base) * base - np.floor(base / 2) * (v != 0)
    return v


class _Flags:
    """Collects, per rule, the flagged cells, the status and a reason maker."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.reasons: dict[int, list[str]] = {}
        self.rules: dict[int, list[str]] = {}
        self.severity = np.zeros(n, dtype=int)

    def add(self, mask: np.ndarray, rule: str, status: str, reason: Any) -> None:
        level = STATUSES.index(status)
        for i in np.flatnonzero(mask):
            self.reasons.setdefault(int(i), []).append(reason(int(i)))
            self.rules.setdefault(int(i), []).append(rule)
            self.severity[i] = max(self.severity[i], level)


def primary(cells: Cells, policy: Policy) -> list[Verdict]:
    """A verdict per cell under ``policy``; rounding is applied to counts that pass."""
    n = cells.size
    flags = _Flags(n)
    counts = np.asarray(cells.counts, dtype=float)
    values = np.asarray(cells.values, dtype=float)
    unit1, unitn = ("person", "people") if cells.persons else ("record", "records")
    if cells.kind == "magnitude":
        unit1, unitn = "contributor", "contributors"

    def units(i: int) -> str:
        c = counts[i]
        return f"{_fmt(c)} {unit1 if c == 1 else unitn}"

    known = ~np.isnan(counts)
    if cells.kind in (*FREQUENCY_KINDS, "magnitude"):
        # Nothing to publish: withheld, and never a number an attacker could be shown.
        flags.add(
            np.isnan(values),
            "missing",
            "suppress",
            lambda i: (
                "no value: the cell has no records, so its statistic is undefined"
                if known[i] and counts[i] == 0
                else "no value: the value is missing, so there is nothing to publish"
            ),
        )
        _frequency_rules(cells, policy, flags, counts, known, units)
    if cells.kind == "magnitude":
        _magnitude_rules(cells, policy, flags, counts)
    if cells.kind == "regression":
        if cells.dof is not None and cells.dof < policy.min_dof:
            dof = cells.dof
            flags.add(
                np.ones(n, dtype=bool),
                "dof",
                "suppress",
                lambda i: (
                    f"the model has {_fmt(dof)} residual degrees of freedom: fewer than "
                    f"the minimum of {policy.min_dof}"
                ),
            )
        low = known & (counts < policy.minimum_count)
        flags.add(
            low,
            "threshold",
            "suppress",
            lambda i: (
                f"the level {cells.label(i)} has {units(i)}: fewer than the threshold "
                f"of {policy.minimum_count}"
            ),
        )
    if cells.kind == "group summary":
        small = known & (counts < max(policy.min_group_size, policy.minimum_count))
        limit = max(policy.min_group_size, policy.minimum_count)
        flags.add(
            small,
            "group-size",
            "suppress",
            lambda i: f"the group has {units(i)}: fewer than the minimum group size of {limit}",
        )
    if cells.outer is not None and policy.minmax_unsafe:
        flags.add(
            cells.outer,
            "minmax",
            "review",
            lambda i: (
                "an outer bin: its edge may show the minimum or maximum value of "
                "one person; check the bin edges are not disclosive"
            ),
        )
    # Rounding (counts only), after suppression.
    safe = values.copy()
    rounding = policy.rounding != "none" and cells.kind in (*FREQUENCY_KINDS, "group summary")
    if rounding:
        safe = round_values(values, policy.rounding, policy.rounding_base)
        how = (
            f"rounded to the nearest {policy.rounding_base}"
            if policy.rounding == "nearest"
            else f"rounded to midpoint {policy.rounding_base}"
        )
        flags.add(
            flags.severity < STATUSES.index("review"),
            "rounding",
            "round",
            lambda i: f"{how} (policy {policy.name})",
        )
    margin = cells.margin
    labels = list(cells.labels.astype(str).itertuples(index=False, name=None))
    out = []
    for i in range(n):
        status = STATUSES[flags.severity[i]]
        out.append(
            Verdict(
                cell=i,
                label=labels[i] if labels else (),
                value=float(values[i]),
                status=status,
                reasons=flags.reasons.get(i, []),
                rules=flags.rules.get(i, []),
                safe_value=None if status == "suppress" else float(safe[i]),
                margin=bool(margin[i]),
            )
        )
    return out


def _frequency_rules(
    cells: Cells,
    policy: Policy,
    flags: _Flags,
    counts: np.ndarray,
    known: np.ndarray,
    units: Any,
) -> None:
    minimum = policy.minimum_count
    zero = known & (counts == 0)
    if policy.zeros:
        what = "contributions" if cells.kind == "magnitude" else "people"
        flags.add(
            zero,
            "zero",
            "suppress",
            lambda i: f"0 {what}: a zero shows that nobody in this group has this attribute",
        )
    low = known & (counts > 0) & (counts < minimum)
    if policy.redact_at_or_below and minimum == policy.redact_at_or_below + 1:
        reason = lambda i: f"{units(i)}: {policy.redact_at_or_below} or fewer are redacted"  # noqa: E731
    else:
        reason = lambda i: f"{units(i)}: fewer than the threshold of {minimum}"  # noqa: E731
    flags.add(low, "threshold", "suppress", reason)
    if cells.kind == "magnitude" or not policy.class_disclosure:
        return
    who = "person" if cells.persons else "record"
    full = np.zeros(cells.size, dtype=bool)
    group: dict[int, int] = {}
    for total, parts in cells.constraints:
        if len(parts) < 2 or counts[total] <= 0:
            continue
        nz = [p for p in parts if counts[p] != 0]
        if len(nz) == 1 and nz[0] not in group:
            full[nz[0]] = True
            group[nz[0]] = total
    flags.add(
        full,
        "class",
        "review",
        lambda i: (
            f"every {who} in {cells.label(group[i])} is in {cells.label(i)}: class "
            "disclosure (everyone in the group shares this attribute)"
        ),
    )


def _magnitude_rules(cells: Cells, policy: Policy, flags: _Flags, counts: np.ndarray) -> None:
    stat = cells.statistic
    if stat in ("sum", "mean") and cells.top is not None and cells.total is not None:
        negative = cells.negative if cells.negative is not None else np.zeros(cells.size)
        neg = negative > 0
        # Cells with negative contributions: the rules are applied to the absolute
        # values of the contributions (docs/disclosure-control.md, "Negative values"), when
        # the table keeps them; a checker still judges the cell (rule "negative").
        absolute = neg.any() and cells.abs_top is not None and cells.negative_sum is not None
        if absolute:
            assert cells.abs_top is not None and cells.negative_sum is not None
            top = np.where(neg[:, None], cells.abs_top, cells.top)
            total = np.where(neg, cells.total - 2.0 * cells.negative_sum, cells.total)
            ok = total > 0
        else:
            top = cells.top
            total = cells.total
            ok = ~neg & (total > 0)
        flags.add(
            neg,
            "negative",
            "review",
            lambda i: (
                f"{_fmt(float(negative[i]))} negative contribution(s): the dominance rules are "
                "defined for non-negative values"
                + (
                    " and were applied to the contributions' absolute values"
                    if absolute
                    else " and were not applied"
                )
                + "; a checker must judge this cell"
            ),
        )

        def of(i: int) -> str:
            return " (absolute values)" if absolute and neg[i] else ""

        if policy.p is not None:
            x1 = top[:, 0]
            x2 = top[:, 1] if top.shape[1] > 1 else np.zeros(cells.size)
            rest = total - x1 - x2
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(x1 > 0, rest / x1, np.inf)
            bad = ok & (rest < policy.p / 100.0 * x1)
            p = policy.p
            flags.add(
                bad,
                "p%",
                "suppress",
                lambda i: (
                    f"the total less the two largest contributions{of(i)} is "
                    f"{_pct(float(share[i]))} of the largest (p% rule: {_fmt(p)}%)"
                ),
            )
        if policy.n is not None and policy.k is not None:
            nn, k = policy.n, policy.k
            if top.shape[1] < nn:
                raise ValueError(
                    f"the table keeps only {top.shape[1]} largest contributions; the n,k "
                    f"rule needs {nn}"
                )
            with np.errstate(divide="ignore", invalid="ignore"):
                dom = np.where(total > 0, top[:, :nn].sum(axis=1) / total, 0.0)
            bad = ok & (dom >= k / 100.0)
            flags.add(
                bad,
                "n,k",
                "suppress",
                lambda i: (
                    f"the largest {nn} contributors{of(i)} make up {_pct(float(dom[i]))} of "
                    f"the total (n,k rule: {nn}, {_fmt(k)}%)"
                ),
            )
    unsafe_stat = (stat in ("min", "max") and policy.minmax_unsafe) or (
        stat == "mode" and policy.mode_unsafe
    )
    if unsafe_stat and cells.support is not None:
        support = cells.support
        minimum = max(policy.minimum_count, 1)
        what = {"min": "a minimum", "max": "a maximum", "mode": "a mode"}[stat]
        flags.add(
            ~np.isnan(support) & (support < minimum),
            "minmax" if stat != "mode" else "mode",
            "suppress",
            lambda i: (
                f"{what} is the value of individual records: only {_fmt(float(support[i]))} "
                f"share this value (it is safe only if at least {minimum} do)"
            ),
        )


def _pct(x: float) -> str:
    if np.isinf(x):
        return "undefined"
    v = 100.0 * x
    return f"{v:.0f}%" if abs(v - round(v)) < 0.05 or abs(v) >= 10 else f"{v:.1f}%"
