"""Trained models as outputs: loading them safely and checking them with SACRO-ML.

A model output is a scikit-learn classifier saved with skops (``skops.io.dump``)
with the train and test data it was fitted on (both stay inside the TRE).
:func:`load_model` never unpickles: a file that is not a skops archive is
refused unread, and a skops archive naming any type outside scikit-learn's and
numpy's own is refused before anything in it is built.

:func:`check_model` runs SACRO-ML's attacks that fit the model — LiRA and the
worst-case membership-inference attack for a classifier with probabilities,
the structural checks (leaves with too few records, residual degrees of
freedom, risky hyperparameters) and, when the policy asks for it
(``attribute_inference``), the attribute-inference attack — and turns their
results into a verdict under the disclosure policy's thresholds. A structural
rule that does not apply to the model's type (records per leaf for a logistic
regression) is reported but does not make the model unsafe.

The attribute attack needs to know which features are categorical (it tries
every value of those) and which quantitative (it sweeps their range): a column
named as categorical by the caller, or else (:func:`categorical_features`) one
whose values are all whole numbers with at most :data:`CATEGORICAL_MAX_VALUES`
distinct values in the train and test data together.
"""

from __future__ import annotations

import logging
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fivesafes.errors import FivesafesError
from fivesafes.outputs.policy import Policy

#: module prefixes of the types a model file may name (scikit-learn's and numpy's own).
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.")

HOW_TO_SAVE = (
    "save the fitted model with skops: `import skops.io; skops.io.dump(model, 'model.skops')` "
    "(a scikit-learn estimator, nothing of your own inside it)"
)

#: model types SACRO-ML's structural checks read leaf by leaf or tree by tree
TREE_TYPES = (
    "DecisionTreeClassifier",
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "AdaBoostClassifier",
    "GradientBoostingClassifier",
    "XGBClassifier",
)


#: most distinct whole-number values a feature may take and still be taken as categorical
CATEGORICAL_MAX_VALUES = 10


def load_model(path: Path) -> Any:
    """The estimator in a skops file, or :class:`FivesafesError` saying how to save it.

    Nothing in a refused file runs: a pickle is never unpickled (it is not a zip
    archive, so it is refused unread), and a skops file naming an untrusted type
    is refused after reading its schema, before any object is built."""
    import skops.io as sio

    path = Path(path)
    if not path.exists():
        raise FivesafesError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise FivesafesError(
            f"{path}: not a skops file (a pickle or another format is never loaded, because "
            f"loading it would run any code it carries); {HOW_TO_SAVE}"
        )
    try:
        types = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a zip that is not a skops archive
        raise FivesafesError(f"{path}: not a readable skops file ({exc}); {HOW_TO_SAVE}") from exc
    untrusted = sorted(t for t in types if not t.startswith(TRUSTED_PREFIXES))
    if untrusted:
        raise FivesafesError(
            f"{path}: the model file names types that are not scikit-learn's or numpy's "
            f"({', '.join(untrusted)}), so it is not loaded; {HOW_TO_SAVE}"
        )
    try:
        model = sio.load(path, trusted=list(types))
    except Exception as exc:
        raise FivesafesError(f"{path}: the skops file could not be loaded ({exc})") from exc
    if not (hasattr(model, "fit") and hasattr(model, "predict")):
        raise FivesafesError(f"{path}: holds a {type(model).__name__}, not a fitted estimator")
    return model


def read_xy(path: Path, target: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features and labels from a CSV; a missing target column or a non-numeric
    feature is a user error naming the file, row and column."""
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FivesafesError(f"{path}: not a readable CSV ({exc})") from exc
    if target not in df.columns:
        raise FivesafesError(
            f"{path}: no target column {target!r} "
            f"(the columns are {', '.join(map(str, df.columns))})"
        )
    features = [str(c) for c in df.columns if c != target]
    for col in features:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any() or df[col].isna().any():
            row = int(np.flatnonzero(bad | df[col].isna())[0]) + 1
            raise FivesafesError(
                f"{path}: row {row}, column {col!r}: {df[col].iloc[row - 1]!r} is not a number "
                "(the model's features must be numeric, as the model was fitted on them)"
            )
    x = df[features].to_numpy(dtype=float)
    return x, df[target].to_numpy(), features


@dataclass
class AttackResult:
    """One attack's result: its metrics, whether it failed the policy, and why."""

    name: str
    auc: float | None
    unsafe: bool
    reasons: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    roc: tuple[list[float], list[float]] | None = None  # fpr, tpr

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.auc is not None:
            out["auc"] = self.auc
        out["unsafe"] = self.unsafe
        out["reasons"] = self.reasons
        out.update(self.metrics)
        return out


@dataclass
class ModelCheck:
    """The verdict on one model: ``safe`` or ``unsafe``, with every attack's result."""

    model_type: str
    verdict: str
    reasons: list[str]
    attacks: list[AttackResult]
    policy: str
    n_train: int
    n_test: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reasons": self.reasons,
            "model_type": self.model_type,
            "policy": self.policy,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "attacks": [a.to_dict() for a in self.attacks],
        }


def _mia_result(name: str, m: dict[str, Any], policy: Policy) -> AttackResult:
    from sacroml import metrics as smetrics

    auc = float(m["AUC"])
    p, _ = smetrics.auc_p_val(auc, m["n_pos_test_examples"], m["n_neg_test_examples"])
    unsafe = bool(auc > policy.mia_auc_max and p < policy.mia_p_value)
    if unsafe:
        why = (
            f"{name}: an attacker tells members of the training data from non-members with "
            f"AUC {auc:.3f} (significant, p = {p:.2g}); the policy allows at most "
            f"{policy.mia_auc_max} or a result not significant at p < {policy.mia_p_value}"
        )
    else:
        why = f"{name}: AUC {auc:.3f} (p = {p:.2g}), within the policy"
    keep = ("TPR", "FPR", "Advantage", "ACC", "PDIF01", "TPR@0.01", "TPR@0.001")
    metrics = {k.lower(): float(m[k]) for k in keep if k in m}
    metrics["auc_p_value"] = float(p)
    roc = None
    if "fpr" in m and "tpr" in m:
        roc = ([float(v) for v in m["fpr"]], [float(v) for v in m["tpr"]])
    return AttackResult(name, auc, unsafe, [why], metrics, roc)


def run_lira(model: Any, data: _Data, policy: Policy, workdir: str) -> AttackResult:
    """SACRO-ML's LiRA attack, with the policy's number of shadow models."""
    from sacroml.attacks.likelihood_attack import LIRAAttack

    attack = LIRAAttack(
        output_dir=workdir,
        write_report=False,
        n_shadow_models=policy.lira_shadow_models,
        p_thresh=policy.mia_p_value,
    )
    attack.attack(data.target(model))
    return _mia_result("LiRA", attack.attack_metrics[0], policy)


def run_worst_case(model: Any, data: _Data, policy: Policy, workdir: str) -> AttackResult:
    """SACRO-ML's worst-case attack; the reported AUC is the mean over repetitions
    (as SACRO-ML's own summary), the ROC the first repetition's."""
    from sacroml.attacks.worst_case_attack import WorstCaseAttack

    attack = WorstCaseAttack(
        output_dir=workdir,
        write_report=False,
        n_reps=policy.worst_case_reps,
        reproduce_split=5,
        p_thresh=policy.mia_p_value,
        n_dummy_reps=0,
    )
    attack.attack(data.target(model))
    reps = attack.attack_metrics
    mean = dict(reps[0])
    for key in ("AUC", "TPR", "FPR", "Advantage", "ACC"):
        mean[key] = float(np.mean([r[key] for r in reps]))
    return _mia_result("worst-case", mean, policy)


def run_structural(model: Any, data: _Data, policy: Policy, workdir: str) -> AttackResult:
    """SACRO-ML's structural checks, with the policy's thresholds; only the rules
    that apply to the model's type can make it unsafe."""
    from sacroml.attacks.structural_attack import StructuralAttack

    attack = StructuralAttack(output_dir=workdir, write_report=False)
    attack.THRESHOLD = policy.threshold
    attack.DOF_THRESHOLD = policy.min_dof
    attack.attack(data.target(model))
    r = attack.results
    assert r is not None
    tree = type(model).__name__ in TREE_TYPES
    rules: list[tuple[str, bool, bool, str]] = [
        (
            "dof_risk",
            bool(r.dof_risk),
            True,
            f"fewer than {policy.min_dof} residual degrees of freedom (records minus parameters)",
        ),
        (
            "k_anonymity_risk",
            bool(r.k_anonymity_risk),
            tree,
            f"a leaf (or group of records the model cannot tell apart) holds fewer than "
            f"{policy.threshold} training records",
        ),
        (
            "class_disclosure_risk",
            bool(r.class_disclosure_risk),
            tree,
            "a leaf predicts a probability of zero for a class (it tells that no one "
            "in it has that label)",
        ),
        (
            "smallgroup_risk",
            bool(r.smallgroup_risk),
            tree,
            f"a leaf describes fewer than {policy.threshold} training records of a class",
        ),
        (
            "unnecessary_risk",
            bool(r.unnecessary_risk),
            True,
            "its hyperparameters are among the riskiest fifth in SACRO-ML's study "
            "(e.g. deep trees with small leaves)",
        ),
    ]
    reasons: list[str] = []
    unsafe = False
    for key, hit, applies, text in rules:
        if hit and applies:
            unsafe = True
            reasons.append(f"structural: {text}")
        elif hit:
            reasons.append(
                f"structural: {key} reported but does not apply to a {type(model).__name__} "
                "(its records are not grouped in leaves), so it does not count"
            )
    if not unsafe:
        reasons.append("structural: no structural rule that applies to this model is broken")
    metrics: dict[str, Any] = {key: hit for key, hit, _, _ in rules}
    metrics["applies_leaf_rules"] = tree
    metrics["train_acc"] = float(r.train_acc)
    metrics["test_acc"] = float(r.test_acc)
    metrics["generalisation_gap"] = float(r.generalisation_gap)
    return AttackResult("structural", None, unsafe, reasons, metrics)


def risk_ratio(train_share: float, test_share: float) -> float | None:
    """SACRO-ML's Attribute Risk Ratio: the share of training records whose
    attribute the attack infers correctly over the share of test records;
    infinite when it infers some training records and no test record, ``None``
    when it infers none of either (nothing to compare: no risk)."""
    if test_share > 0:
        return train_share / test_share
    return float("inf") if train_share > 0 else None


def attribute_shares(metrics: Mapping[str, Any], n_train: int, n_test: int) -> list[dict[str, Any]]:
    """Each attacked attribute's counts and shares of training and test records at
    risk, from ``AttributeAttack.attack_metrics``: for a categorical attribute the
    records whose value the attack infers correctly (SACRO-ML's ``correct`` over
    the set's size), for a quantitative one the records whose value it pins
    within SACRO-ML's protection limit (its ``train`` and ``test`` risks, which
    are shares of the ``n_train`` and ``n_test`` records)."""
    rows: list[dict[str, Any]] = []
    for f in metrics.get("categorical", []):
        correct_a, total_a, base_a, n_unique, n_a = f["train"]
        correct_b, total_b, base_b, _, n_b = f["test"]
        rows.append(
            {
                "name": str(f["name"]),
                "kind": "categorical",
                "n_values": int(n_unique),
                "train_at_risk": int(correct_a),
                "test_at_risk": int(correct_b),
                "train_share": correct_a / n_a if n_a else 0.0,
                "test_share": correct_b / n_b if n_b else 0.0,
                "train_inferred": int(total_a),
                "test_inferred": int(total_b),
                "train_baseline_percent": float(base_a),
                "test_baseline_percent": float(base_b),
            }
        )
    for f in metrics.get("quantitative", []):
        rows.append(
            {
                "name": str(f["name"]),
                "kind": "quantitative",
                "train_at_risk": round(float(f["train"]) * n_train),
                "test_at_risk": round(float(f["test"]) * n_test),
                "train_share": float(f["train"]),
                "test_share": float(f["test"]),
            }
        )
    for row in rows:
        row["n_train"], row["n_test"] = n_train, n_test
    return rows


def excess_p_value(train_at_risk: int, n_train: int, test_at_risk: int, n_test: int) -> float:
    """One-sided p-value of Fisher's exact test that a larger share of training
    records than of test records is at risk (``scipy.stats.fisher_exact``)."""
    from scipy.stats import fisher_exact

    table = [[train_at_risk, n_train - train_at_risk], [test_at_risk, n_test - test_at_risk]]
    return float(fisher_exact(table, alternative="greater").pvalue)


def run_attribute(model: Any, data: _Data, policy: Policy, workdir: str) -> AttackResult:
    """SACRO-ML's attribute-inference attack. An attribute is at risk when its
    Attribute Risk Ratio is above the policy's ``attribute_risk_ratio_max``
    (SACRO-ML's rule: above 1) and the excess of training over test records is
    significant at ``attribute_p_value`` (one-sided Fisher's exact test)."""
    from sacroml.attacks.attribute_attack import AttributeAttack

    attack = AttributeAttack(output_dir=workdir, write_report=False)
    target = data.attribute_target(model)
    if not AttributeAttack.attackable(target):
        return AttackResult(
            "attribute",
            None,
            True,
            ["attribute: SACRO-ML could not run its attribute attack on this model and data"],
        )
    attack.attack(target)
    limit, p_limit = policy.attribute_risk_ratio_max, policy.attribute_p_value
    rows = attribute_shares(attack.attack_metrics, len(data.y_train), len(data.y_test))
    reasons: list[str] = []
    at_risk: list[str] = []
    for row in rows:
        ratio = risk_ratio(row["train_share"], row["test_share"])
        p = excess_p_value(row["train_at_risk"], row["n_train"], row["test_at_risk"], row["n_test"])
        row["risk_ratio"] = None if ratio is None or ratio == float("inf") else ratio
        row["p_value"] = p
        row["at_risk"] = ratio is not None and ratio > limit and p < p_limit
        if not row["at_risk"]:
            continue
        at_risk.append(row["name"])
        how = "infers" if row["kind"] == "categorical" else "pins within 10% of its value"
        ratio_text = f"risk ratio {ratio:.2f}" if ratio != float("inf") else "none of the test rows"
        reasons.append(
            f"attribute: an attacker who knows the rest of a record {how} its "
            f"{row['kind']} attribute {row['name']!r} for {row['train_share']:.1%} of the "
            f"training rows but {row['test_share']:.1%} of the test rows ({ratio_text}, "
            f"significant, p = {p:.2g}); the policy allows a risk ratio of at most {limit} "
            f"or a difference not significant at p < {p_limit}"
        )
    if not at_risk:
        reasons.append(
            f"attribute: none of the {len(rows)} attributes attacked is inferred for "
            f"significantly more training rows than {limit} times the share of test rows"
        )
    metrics: dict[str, Any] = {
        "risk_ratio_max": limit,
        "p_value_max": p_limit,
        "attributes_at_risk": at_risk,
        "attributes": rows,
    }
    return AttackResult("attribute", None, bool(at_risk), reasons, metrics)


@dataclass
class _Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    features: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)

    def target(self, model: Any) -> Any:
        from sacroml.attacks.target import Target

        return Target(
            model=model,
            X_train=self.x_train,
            y_train=self.y_train,
            X_test=self.x_test,
            y_test=self.y_test,
        )

    def attribute_target(self, model: Any) -> Any:
        """The Target SACRO-ML's attribute attack needs: the data as the model saw
        it is also the "original" data (the CSV's features are the model's inputs,
        none encoded), and each feature is described (one column each, encoding
        ``int`` for a categorical feature, ``float`` for a quantitative one)."""
        return attribute_target(
            model,
            self.x_train,
            self.y_train,
            self.x_test,
            self.y_test,
            self.features,
            self.categorical,
        )


def attribute_target(
    model: Any,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    features: Sequence[str],
    categorical: Sequence[str],
) -> Any:
    """A SACRO-ML ``Target`` for its attribute attack, built as the model check builds it."""
    from sacroml.attacks.target import Target

    target = Target(
        model=_label_indices(model),
        X_train=x_train,
        y_train=y_train,
        X_test=x_test,
        y_test=y_test,
        X_train_orig=x_train,
        y_train_orig=y_train,
        X_test_orig=x_test,
        y_test_orig=y_test,
    )
    for i, name in enumerate(features):
        target.add_feature(name, [i], "int" if name in categorical else "float")
    return target


def _label_indices(model: Any) -> Any:
    """The model itself when its classes are 0, 1, ..., k-1; otherwise the model
    seen through :class:`~fivesafes.outputs.label_index.LabelIndexModel`.
    SACRO-ML's attribute attack compares the model's predicted label with the
    position of its largest probability, so it needs labels that are positions."""
    from fivesafes.outputs.label_index import LabelIndexModel

    classes = np.asarray(getattr(model, "classes_", []))
    if classes.dtype.kind in "iub" and np.array_equal(classes, np.arange(len(classes))):
        return model
    return LabelIndexModel(model)


def categorical_features(
    x_train: np.ndarray, x_test: np.ndarray, features: Sequence[str]
) -> list[str]:
    """The features taken as categorical when none are named: those whose values,
    in the train and test data together, are all whole numbers and number at most
    :data:`CATEGORICAL_MAX_VALUES` (a 0/1 flag, a code for one of a few groups).
    Every other feature is quantitative (an age, a measurement)."""
    both = np.vstack([x_train, x_test])
    out = []
    for i, name in enumerate(features):
        col = both[:, i]
        if np.all(col == np.round(col)) and len(np.unique(col)) <= CATEGORICAL_MAX_VALUES:
            out.append(name)
    return out


def _require_sacroml() -> None:
    try:
        import sacroml  # noqa: F401
    except ImportError as exc:
        raise FivesafesError(
            "model checks need SACRO-ML, which is not installed: "
            "pip install torch==2.13.0 '.[models]' then pip install --no-deps sacroml==2.0.1 "
            "(make does both)"
        ) from exc


def check_model(
    model: Any,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    policy: Policy,
    attacks: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
) -> ModelCheck:
    """Run the attacks that fit ``model`` and give the verdict under ``policy``.

    ``features`` names the columns of the data (``x0``, ``x1``, ... if not
    given); ``categorical`` names those the attribute attack treats as
    categorical (if not given, :func:`categorical_features` decides)."""
    _require_sacroml()
    logging.getLogger("sacroml").setLevel(logging.WARNING)
    names = list(features) if features is not None else [f"x{i}" for i in range(train[0].shape[1])]
    if len(names) != train[0].shape[1]:
        raise FivesafesError(
            f"{len(names)} feature names given for {train[0].shape[1]} feature columns"
        )
    if categorical is None:
        cats = categorical_features(train[0], test[0], names)
    else:
        unknown = [c for c in categorical if c not in names]
        if unknown:
            raise FivesafesError(
                f"categorical column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                f"not among the features ({', '.join(names)})"
            )
        cats = list(categorical)
    data = _Data(train[0], train[1], test[0], test[1], names, cats)
    todo = list(attacks) if attacks is not None else ["lira", "worst-case", "structural"]
    if attacks is None and policy.attribute_inference:
        todo.append("attribute")
    has_proba = hasattr(model, "predict_proba") and hasattr(model, "classes_")
    results: list[AttackResult] = []
    reasons: list[str] = []
    run = {
        "lira": run_lira,
        "worst-case": run_worst_case,
        "structural": run_structural,
        "attribute": run_attribute,
    }
    with tempfile.TemporaryDirectory(prefix="fivesafes-model-") as workdir:
        for name in todo:
            if name in ("lira", "worst-case", "attribute") and not has_proba:
                reasons.append(
                    f"{name}: not run, the model gives no class probabilities "
                    "(the inference attacks need them)"
                )
                continue
            results.append(run[name](model, data, policy, workdir))
    unsafe = any(a.unsafe for a in results)
    for a in results:
        reasons += [r for r in a.reasons if a.unsafe or not unsafe]
    if not results:
        unsafe = True
        reasons.append("no attack could be run on this model, so it cannot be shown to be safe")
    return ModelCheck(
        model_type=type(model).__name__,
        verdict="unsafe" if unsafe else "safe",
        reasons=reasons,
        attacks=results,
        policy=policy.label,
        n_train=len(train[1]),
        n_test=len(test[1]),
    )


def load_model_files(
    model_path: Path, train_csv: Path, test_csv: Path, target: str
) -> tuple[Any, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The model and its train and test data, read and matched to each other (the
    same columns, as many features as the model was fitted on); any problem is a
    :class:`FivesafesError` naming the file."""
    model, train, test, _ = _load_model_files(model_path, train_csv, test_csv, target)
    return model, train, test


def model_feature_columns(
    model_path: Path, train_csv: Path, test_csv: Path, target: str
) -> list[str]:
    """The feature columns of a model's train CSV (every column but ``target``), once
    the model and both CSVs are read and matched as :func:`load_model_files` does."""
    return _load_model_files(model_path, train_csv, test_csv, target)[3]


def _load_model_files(
    model_path: Path, train_csv: Path, test_csv: Path, target: str
) -> tuple[Any, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], list[str]]:
    model = load_model(model_path)
    x_train, y_train, cols = read_xy(train_csv, target)
    x_test, y_test, test_cols = read_xy(test_csv, target)
    if test_cols != cols:
        raise FivesafesError(
            f"{test_csv}: its columns ({', '.join(test_cols)}) differ from {train_csv}'s "
            f"({', '.join(cols)})"
        )
    n_in = getattr(model, "n_features_in_", len(cols))
    if n_in != len(cols):
        raise FivesafesError(
            f"{train_csv}: {len(cols)} feature columns, but the model was fitted on {n_in}"
        )
    return model, (x_train, y_train), (x_test, y_test), cols


def check_model_files(
    model_path: Path,
    train_csv: Path,
    test_csv: Path,
    target: str,
    policy: Policy,
    categorical: Sequence[str] | None = None,
) -> ModelCheck:
    """:func:`check_model` on a skops file and its train and test CSVs;
    ``categorical`` names the feature columns the attribute attack treats as
    categorical (by default :func:`categorical_features` decides)."""
    model, train, test, cols = _load_model_files(model_path, train_csv, test_csv, target)
    if categorical is not None:
        categorical = check_categorical(train_csv, cols, target, categorical)
    return check_model(model, train, test, policy, features=cols, categorical=categorical)


def check_categorical(
    train_csv: Path, features: Sequence[str], target: str, categorical: Sequence[str]
) -> list[str]:
    """The columns named as categorical, each once, in the order given, once each is
    a feature column of ``train_csv``; else a :class:`FivesafesError` naming the
    file and every unknown column (the target is not a feature: it is what the
    model predicts, not an attribute the attack infers)."""
    named = list(dict.fromkeys(c.strip() for c in categorical if c.strip()))
    if target in named:
        raise FivesafesError(
            f"{train_csv}: {target!r} is the target column, not a feature, so it cannot be "
            f"named as categorical (the feature columns are {', '.join(features)})"
        )
    unknown = [c for c in named if c not in features]
    if unknown:
        raise FivesafesError(
            f"{train_csv}: no feature column {', '.join(map(repr, unknown))} to treat as "
            f"categorical (the feature columns are {', '.join(features)})"
        )
    return named


#: Most points of an ROC curve kept in a stored report (enough to draw it).
ROC_POINTS = 200


def _thin(fpr: Sequence[float], tpr: Sequence[float]) -> dict[str, list[float]]:
    """An ROC curve cut to at most :data:`ROC_POINTS` points, ends kept."""
    n = len(fpr)
    if n <= ROC_POINTS:
        idx = list(range(n))
    else:
        idx = sorted({round(float(i)) for i in np.linspace(0, n - 1, ROC_POINTS)})
    return {"fpr": [round(fpr[i], 5) for i in idx], "tpr": [round(tpr[i], 5) for i in idx]}


def airlock_report(check: ModelCheck) -> dict[str, Any]:
    """The model check as the airlock stores it: verdict ``fail`` for an unsafe model
    (no checker can approve it), ``pass`` for a safe one, with every attack's
    metrics and ROC curve (thinned) for the checkers' page."""
    data = check.to_dict()
    for attack, result in zip(data["attacks"], check.attacks, strict=True):
        if result.roc is not None:
            attack["roc"] = _thin(*result.roc)
    unsafe = check.verdict == "unsafe"
    return {
        "verdict": "fail" if unsafe else "pass",
        "kind": "model",
        "reason": (
            "the model check found the model unsafe: " + "; ".join(check.reasons)
            if unsafe
            else "the model check found no risk its policy does not allow"
        ),
        "model_check": data,
    }


def roc_figure_png(report: Mapping[str, Any]) -> bytes:
    """The attacks' ROC curves from a stored :func:`airlock_report`, as a PNG (drawn
    with ``matplotlib.figure.Figure``: no pyplot, no global state)."""
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0, 5.0), dpi=100)
    ax = fig.add_subplot()
    drawn = 0
    for a in (report.get("model_check") or {}).get("attacks", []):
        roc = a.get("roc")
        if roc:
            ax.plot(roc["fpr"], roc["tpr"], label=f"{a['name']} (AUC {a['auc']:.3f})")
            drawn += 1
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="chance (AUC 0.5)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("Membership-inference attacks" if drawn else "No attack with an ROC curve")
    ax.legend(loc="lower right", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()
