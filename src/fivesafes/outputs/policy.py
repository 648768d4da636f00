"""Disclosure-control rules as a versioned policy a TRE configures.

A :class:`Policy` is frozen and carries a name and a version, so every check
report says which rules it applied. Presets follow published guidance (each
cites its source); a TRE writes its own in a TOML file (see
:func:`load_policy`). A researcher may ask for stricter rules, never looser:
:meth:`Policy.tighten` keeps the stricter of every setting.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields, replace
from math import inf
from pathlib import Path
from typing import Any

from fivesafes.errors import FivesafesError, PolicyRefusal

ROUNDING_METHODS = ("none", "nearest", "midpoint6")


@dataclass(frozen=True)
class Policy:
    """The rules one check applies. Percentages are in percent (10 means 10%).

    ``threshold``: a cell describing fewer than this many people (or contributors)
    is unsafe; 0 turns the rule off. ``redact_at_or_below``: the same rule phrased
    as OpenSAFELY phrases it (a count of this or fewer, above zero, is redacted).
    ``zeros``: a zero cell is unsafe (it says nobody in a group has an attribute).
    ``class_disclosure``: a group whose members all fall in one category is
    flagged for review. ``p`` (p% rule), ``n`` and ``k`` (n,k rule) are dominance
    rules for magnitudes, ``None`` for off. ``min_dof``: fewest residual degrees
    of freedom for a model. ``min_group_size``: smallest group a group summary may
    describe. ``minmax_unsafe`` / ``mode_unsafe``: a minimum, maximum or mode is
    one person's value, unsafe unless at least ``threshold`` people share it.
    ``rounding`` / ``rounding_base``: how released counts are rounded.
    ``protection_upper`` / ``protection_lower``: the interval (percent of a
    suppressed cell's value) secondary suppression must leave an attacker.
    ``person_counts_required``: counts must be of distinct people, not rows.
    ``mia_auc_max`` / ``mia_p_value``: a trained model is unsafe when a
    membership-inference attack (LiRA or worst-case) reaches an AUC above
    ``mia_auc_max`` that is significant at ``mia_p_value`` (SACRO-ML's test of the
    AUC against 0.5, at its default p = 0.05). ``lira_shadow_models``: shadow
    models LiRA trains (SACRO-ML's default is 100; more is stricter and slower).
    ``worst_case_reps``: repetitions of the worst-case attack (SACRO-ML's default 10).
    A model's structural checks use ``threshold`` (records in a leaf, SACRO-ML's
    k-anonymity, as ACRO's ``safe_threshold``) and ``min_dof`` (ACRO's
    ``safe_dof_threshold``). ``attribute_inference``: also run SACRO-ML's
    attribute-inference attack on a model (off by default: it is slow, and a
    TRE turns it on). ``attribute_risk_ratio_max``: a model is unsafe when, for
    some attribute, the share of training records the attack infers correctly
    is more than this many times the share of test records (SACRO-ML's
    Attribute Risk Ratio; its documentation counts a model as leaking when the
    ratio exceeds 1) and the excess is significant at ``attribute_p_value``
    (a one-sided Fisher's exact test of the two shares; 1 counts every excess,
    SACRO-ML's rule alone).
    """

    name: str
    version: str
    threshold: int = 10
    redact_at_or_below: int = 0
    zeros: bool = True
    class_disclosure: bool = True
    p: float | None = 10.0
    n: int | None = 2
    k: float | None = 90.0
    min_dof: int = 10
    min_group_size: int = 10
    minmax_unsafe: bool = True
    mode_unsafe: bool = True
    rounding: str = "none"
    rounding_base: int = 1
    protection_upper: float = 0.0
    protection_lower: float = 0.0
    person_counts_required: bool = False
    mia_auc_max: float = 0.55
    mia_p_value: float = 0.05
    lira_shadow_models: int = 100
    worst_case_reps: int = 10
    attribute_inference: bool = False
    attribute_risk_ratio_max: float = 1.0
    attribute_p_value: float = 0.05
    source: str = ""
    tightened_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.rounding not in ROUNDING_METHODS:
            raise FivesafesError(
                f"policy {self.name}: rounding must be one of {', '.join(ROUNDING_METHODS)}, "
                f"not {self.rounding!r}"
            )
        if self.rounding == "nearest" and self.rounding_base < 1:
            raise FivesafesError(f"policy {self.name}: rounding_base must be at least 1")
        if (self.n is None) != (self.k is None):
            raise FivesafesError(f"policy {self.name}: set both n and k, or neither")
        if self.k is not None and not 0 < self.k <= 100:
            raise FivesafesError(f"policy {self.name}: k is a percentage in (0, 100]")
        if self.p is not None and self.p < 0:
            raise FivesafesError(f"policy {self.name}: p is a non-negative percentage")
        if not 0.5 <= self.mia_auc_max <= 1:
            raise FivesafesError(f"policy {self.name}: mia_auc_max is an AUC in [0.5, 1]")
        if not 0 < self.mia_p_value < 1:
            raise FivesafesError(f"policy {self.name}: mia_p_value is a probability in (0, 1)")
        if self.lira_shadow_models < 2 or self.worst_case_reps < 1:
            raise FivesafesError(
                f"policy {self.name}: lira_shadow_models must be at least 2, "
                "worst_case_reps at least 1"
            )
        if not isinstance(self.attribute_inference, bool):
            raise FivesafesError(
                f"policy {self.name}: attribute_inference is true or false, "
                f"not {self.attribute_inference!r}"
            )
        ratio = self.attribute_risk_ratio_max
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio < inf:
            raise FivesafesError(
                f"policy {self.name}: attribute_risk_ratio_max is a positive number "
                f"(SACRO-ML's rule is 1), not {ratio!r}"
            )
        if not 0 < self.attribute_p_value <= 1:
            raise FivesafesError(
                f"policy {self.name}: attribute_p_value is a probability in (0, 1]"
            )

    @property
    def minimum_count(self) -> int:
        """The smallest count that passes the frequency rule (combining both phrasings)."""
        return max(self.threshold, self.redact_at_or_below + 1 if self.redact_at_or_below else 0)

    @property
    def protection_upper_percent(self) -> float:
        """Read by :func:`fivesafes.outputs.secondary.protect`."""
        return self.protection_upper

    @property
    def protection_lower_percent(self) -> float:
        return self.protection_lower

    @property
    def label(self) -> str:
        extra = f" (tightened by {', '.join(self.tightened_by)})" if self.tightened_by else ""
        return f"{self.name} {self.version}{extra}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tightened_by"] = list(self.tightened_by)
        return d

    def tighten(self, other: Policy, strict: bool = False) -> Policy:
        """This (the TRE's) policy combined with ``other`` (a researcher's request):
        the stricter of every setting, so the result is never looser than this one.

        With ``strict=True``, a request that would loosen any setting is refused
        with :class:`PolicyRefusal` naming the settings, instead of being ignored.
        """
        looser: list[str] = []
        changes: dict[str, Any] = {}

        def more(name: str, a: Any, b: Any) -> None:  # larger is stricter
            if b < a:
                looser.append(f"{name} {b} (the TRE's is {a})")
            elif b > a:
                changes[name] = b

        def less(name: str, a: Any, b: Any) -> None:  # smaller is stricter
            if b > a:
                looser.append(f"{name} {b} (the TRE's is {a})")
            elif b < a:
                changes[name] = b

        def flag(name: str, a: bool, b: bool) -> None:  # on is stricter
            if a and not b:
                looser.append(f"{name} off (the TRE's is on)")
            elif b and not a:
                changes[name] = True

        more("threshold", self.threshold, other.threshold)
        more("redact_at_or_below", self.redact_at_or_below, other.redact_at_or_below)
        for name in ("zeros", "class_disclosure", "minmax_unsafe", "mode_unsafe"):
            flag(name, getattr(self, name), getattr(other, name))
        flag("person_counts_required", self.person_counts_required, other.person_counts_required)
        more("min_dof", self.min_dof, other.min_dof)
        more("min_group_size", self.min_group_size, other.min_group_size)
        more("protection_upper", self.protection_upper, other.protection_upper)
        more("protection_lower", self.protection_lower, other.protection_lower)
        less("mia_auc_max", self.mia_auc_max, other.mia_auc_max)
        more("mia_p_value", self.mia_p_value, other.mia_p_value)
        more("lira_shadow_models", self.lira_shadow_models, other.lira_shadow_models)
        more("worst_case_reps", self.worst_case_reps, other.worst_case_reps)
        flag("attribute_inference", self.attribute_inference, other.attribute_inference)
        less(
            "attribute_risk_ratio_max",
            self.attribute_risk_ratio_max,
            other.attribute_risk_ratio_max,
        )
        more("attribute_p_value", self.attribute_p_value, other.attribute_p_value)
        # p% rule: a larger p flags more cells; off is loosest.
        if self.p is not None and other.p is None:
            looser.append(f"p% rule off (the TRE's is p = {self.p}%)")
        elif other.p is not None:
            if self.p is None:
                changes["p"] = other.p
            else:
                more("p", self.p, other.p)
        # n,k rule: more contributors (n) and a smaller share (k) flag more cells.
        if self.n is not None and other.n is None:
            looser.append(f"n,k rule off (the TRE's is {self.n}, {self.k}%)")
        elif other.n is not None and other.k is not None:
            if self.n is None or self.k is None:
                changes["n"], changes["k"] = other.n, other.k
            else:
                more("n", self.n, other.n)
                less("k", self.k, other.k)
        # Rounding: a coarser base of the same method is stricter; another method
        # cannot replace the TRE's.
        if other.rounding != "none":
            if self.rounding == "none":
                changes["rounding"] = other.rounding
                changes["rounding_base"] = other.rounding_base
            elif other.rounding != self.rounding:
                looser.append(f"rounding {other.rounding} (the TRE's is {self.rounding})")
            else:
                more("rounding_base", self.rounding_base, other.rounding_base)
        elif self.rounding != "none":
            looser.append(f"no rounding (the TRE's is {self.rounding})")
        if looser and strict:
            raise PolicyRefusal(
                f"the policy {other.name} would loosen the TRE's policy {self.label}: "
                + "; ".join(looser)
                + ". A researcher may only make the rules stricter."
            )
        if not changes:
            return self
        return replace(
            self, tightened_by=(*self.tightened_by, f"{other.name} {other.version}"), **changes
        )


ONS_SRS = Policy(
    name="ons-srs",
    version="2023.06",
    threshold=10,
    zeros=True,
    class_disclosure=True,
    p=10.0,
    n=2,
    k=90.0,
    min_dof=10,
    min_group_size=10,
    source=(
        "ONS Secure Research Service, SRS Output Checking Guidance Document v1.1 "
        "(Statistical Support, first issue 05.09.2022, revised 12.06.2023), section 4 "
        "'Default SDC rules of thumb' (threshold of 10; zeros and class disclosure, "
        "section 6.2; dominance for magnitudes). Dominance parameters are not stated "
        "as numbers in the parts we could read; the ACRO values are used."
    ),
)
"""ONS SRS: a threshold of 10, zeros and class disclosure checked (see ``source``)."""

UK_LLC = Policy(
    name="uk-llc",
    version="2025.07",
    threshold=10,
    zeros=True,
    class_disclosure=True,
    p=10.0,
    n=2,
    k=90.0,
    min_dof=10,
    min_group_size=10,
    source=(
        "UK Longitudinal Linkage Collaboration, User Guide: Statistical Disclosure "
        "Control, https://guidebook.ukllc.ac.uk/docs/user_guide/sdc (modified 07 Jul "
        "2025): SDC threshold of 10 data subjects; counts < 10 including zero cannot "
        "leave the TRE; means, medians, modes, standard deviations only from counts of "
        "at least 10. Dominance parameters are not given there; the ACRO values are used."
    ),
)
"""UK LLC: counts below 10, including zero, are not released (see ``source``)."""

OPENSAFELY = Policy(
    name="opensafely",
    version="2025.08",
    threshold=0,
    redact_at_or_below=7,
    zeros=False,
    class_disclosure=True,
    p=None,
    n=None,
    k=None,
    min_dof=10,
    min_group_size=8,
    rounding="nearest",
    rounding_base=5,
    source=(
        "OpenSAFELY documentation, 'Safe outputs and requesting release of files', "
        "https://docs.opensafely.org/releasing-files/ : 'Redacting counts less than "
        "or equal to 7', 'Rounding counts' (first redact counts <= 7, then round to "
        "the nearest 5; counts of zero can in general be retained, but zero or 100% "
        "counts can be disclosive) and 'Midpoint 6 rounding' for rates. Minimum "
        "residual degrees of freedom are not stated as a number there; 10 is used."
    ),
)
"""OpenSAFELY: redact 7 or fewer, then round to the nearest 5 (see ``source``)."""

OPENSAFELY_MIDPOINT6 = replace(
    OPENSAFELY,
    name="opensafely-midpoint6",
    rounding="midpoint6",
    rounding_base=6,
    redact_at_or_below=0,
)
"""OpenSAFELY's midpoint-6 rounding for the numerators and denominators of rates:
0 stays 0, 1-6 become 3, 7-12 become 9, ... (no redaction: 1-6 is shown as 3)."""

ACRO = Policy(
    name="acro",
    version="1.0.2",
    threshold=10,
    zeros=True,
    class_disclosure=False,
    p=10.0,
    n=2,
    k=90.0,
    min_dof=10,
    min_group_size=10,
    source=(
        "ACRO (SACRO project, https://github.com/AI-SDC/ACRO), default.yaml of "
        "version 1.0.2: safe_threshold 10, safe_dof_threshold 10, safe_nk_n 2, "
        "safe_nk_k 0.90, safe_pratio_p 0.10, zeros_are_disclosive True, "
        "safe_round_base 5."
    ),
)
"""ACRO's defaults: threshold 10, n,k = 2, 90%, p = 10%, dof 10, zeros unsafe."""

PRESETS: dict[str, Policy] = {
    p.name: p for p in (ONS_SRS, UK_LLC, OPENSAFELY, OPENSAFELY_MIDPOINT6, ACRO)
}

_FIELDS = {f.name for f in fields(Policy)} - {"tightened_by"}


def policy_from_dict(data: dict[str, Any], origin: str = "policy") -> Policy:
    """A policy from a mapping: optionally ``base`` (a preset name) then any settings."""
    data = dict(data.get("policy", data))
    base_name = data.pop("base", None)
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise FivesafesError(
            f"{origin}: unknown setting{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)}; the settings are {', '.join(sorted(_FIELDS))}"
        )
    for key in ("p", "n", "k"):
        if data.get(key) in (False, "off", "none"):
            data[key] = None
    if base_name is not None:
        if base_name not in PRESETS:
            raise FivesafesError(
                f"{origin}: base {base_name!r} is not a preset ({', '.join(PRESETS)})"
            )
        base = PRESETS[base_name]
        if "name" not in data or "version" not in data:
            raise FivesafesError(f"{origin}: a TRE's policy needs its own name and version")
        return replace(base, **data)
    if "name" not in data or "version" not in data:
        raise FivesafesError(f"{origin}: a policy needs a name and a version")
    try:
        return Policy(**data)
    except TypeError as exc:
        raise FivesafesError(f"{origin}: {exc}") from exc


def load_policy(path_or_name: str | Path) -> Policy:
    """A preset by name (``ons-srs``, ``uk-llc``, ``opensafely``,
    ``opensafely-midpoint6``, ``acro``) or a TRE's own policy from a TOML file."""
    if isinstance(path_or_name, str) and path_or_name in PRESETS:
        return PRESETS[path_or_name]
    path = Path(path_or_name)
    if not path.is_file():
        raise FivesafesError(
            f"no policy {str(path_or_name)!r}: give a preset ({', '.join(PRESETS)}) "
            "or the path of a TOML policy file"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise FivesafesError(f"{path}: not a valid TOML file: {exc}") from exc
    return policy_from_dict(data, origin=str(path))


#: The environment variable naming the TRE's policy (a preset or a TOML file).
TRE_POLICY_ENV = "FIVESAFES_POLICY"
#: The policy in force when a TRE has set none: ACRO's defaults, the most complete
#: of the presets (threshold 10, dominance, degrees of freedom, zeros).
DEFAULT_TRE_POLICY = "acro"


def tre_policy() -> Policy:
    """The TRE's own policy: ``$FIVESAFES_POLICY`` (a preset name or a TOML file),
    else :data:`DEFAULT_TRE_POLICY`."""
    import os

    return load_policy(os.environ.get(TRE_POLICY_ENV) or DEFAULT_TRE_POLICY)


def effective_policy(requested: str | Path | None = None) -> Policy:
    """The policy a check runs under: the TRE's, tightened by the researcher's
    ``requested`` one if given. A request that would loosen any of the TRE's
    settings is refused (:class:`~fivesafes.errors.PolicyRefusal`)."""
    tre = tre_policy()
    if requested is None:
        return tre
    return tre.tighten(load_policy(requested), strict=True)
