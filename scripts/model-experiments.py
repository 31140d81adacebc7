#!/usr/bin/env python3
"""Variants of the shipped model that `riskgate train --features` cannot express, measured
with the card's split, transforms, weighting and regularisation.

    python3 scripts/model-experiments.py [--data-dir fixtures/datasets/mcintosh-kamei] > t.md

Needs `pip install numpy pandas scikit-learn`. Prints a markdown table: validation and
hold-out ROC-AUC per set for each variant. The first row re-creates the shipped model (its
figures match `riskgate train` to about 0.001; the solvers differ). Every variant uses only
what was known when each change was made: context features read earlier rows only, and no
label of any row is used as an input.

Variants:
  context   signals from the project's earlier changes: UTC hour of day, weekend, the time
            since the project's previous change, changes in the past day, the share of fixes
            among the previous 50 / 200 changes, lines added relative to the previous 200
            changes, and the previous change to the same file (single-file changes, found
            by `author_date - age`): whether it was a fix, its size, the fixes along its chain
  recency   the fit weighs each training row by 0.5 ** (days before the end of training /
            half-life)
  review    the Gerrit review columns added (not available to the local CLI)
  pairwise  coefficients fitted on buggy-minus-clean pairs (a ranking loss for AUC)
  trees     gradient-boosted trees on the same inputs: what a non-linear model finds

With --signs-held it measures instead variants of the shipped model as `riskgate train` fits it
now, each coefficient held to the catalogue's direction (a bounded fit, L2 alpha 0.1):
  fixed effects  an intercept per project, or per project and period (the datasets' `strata`),
                 fitted and then dropped, so the slopes learn only ranking within a project
                 and period, which is all a per-set AUC measures
  ramps          piecewise-linear shapes: of lines added (each piece may only raise the risk)
                 and of the undirected file-history signals (free), knots at the quartiles
                 and the 90th percentile
  pairwise       the ranking fit, its coefficients held to the same directions
  weights        each project weighing the same; buggy rows weighed by the bugs they induced;
                 the largest training changes (by lines added) left out of the fit
  inputs         lines changed as the size input; without `fix`; the file history penalised
                 harder
  trees          gradient-boosted trees held to the same directions (monotone constraints)

With --signals it prints instead the ROC-AUC of each raw column alone in the training part,
the validation slice and the hold-out of each set: how much each signal drifts.
"""

import argparse
import sys

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from scipy.optimize import minimize

ALPHA = 3.16  # linfa's L2: loss = sum(log-loss) + alpha/2 |w|^2, i.e. C = 1/alpha
POSITIVE_WEIGHT = 10.0
AGE_KNOT = 12.73  # training median of log1p(age), as in the shipped model
LOG1P = ["la", "ld", "nf", "nd", "ns", "ndev", "age", "nuc", "aexp", "arexp", "asexp"]
BOOLEANS = {True: 1.0, False: 0.0, "TRUE": 1.0, "FALSE": 0.0}


def load(path, name):
    df = pd.read_csv(path).sort_values("author_date", kind="stable").reset_index(drop=True)
    for column in ["buggy", "fix", "revd", "self", "asawr", "rsawr"]:
        df[column] = pd.to_numeric(df[column].map(lambda v: BOOLEANS.get(v, v)), errors="coerce")
    df.attrs["name"] = name
    return df


def split(n):
    """First 80% train (its last 20% validation), last 20% hold-out."""
    test = int(round(n * 0.2))
    train = n - test
    validation = int(round(train * 0.2))
    return np.arange(train - validation), np.arange(train - validation, train), np.arange(train), np.arange(train, n)


def shipped(df):
    x = pd.DataFrame(index=df.index)
    for column in LOG1P:
        x[column] = np.log1p(df[column].clip(lower=0))
    x["entropy"] = df["ent"]
    x["fix"] = df["fix"]
    x["ratio_la_nf"] = np.log1p(df.la / np.maximum(df.nf, 1))
    lines = df.la + df.ld
    x["share_ld_la"] = np.where(lines > 0, df.ld / lines.replace(0, 1), 0.0)
    x["hinge_age"] = np.maximum(0.0, np.log1p(df.age) - AGE_KNOT)
    return x


def with_review(df):
    x = shipped(df)
    for column in ["nrev", "rtime", "hcmt", "app", "rexp", "rrexp", "rsexp"]:
        x["review_" + column] = np.log1p(pd.to_numeric(df[column], errors="coerce").clip(lower=0))
    for column in ["revd", "self", "asawr", "rsawr"]:
        x["review_" + column] = df[column]
    return x


def earlier_rank(values, window):
    """Mid-rank of each value among the `window` values before it (0.5 with none)."""
    out = np.full(len(values), 0.5)
    for i in range(1, len(values)):
        w = values[max(0, i - window) : i]
        out[i] = (w < values[i]).mean() + 0.5 * (w == values[i]).mean()
    return out


def previous_same_file(df):
    """For a single-file change, the row of the previous change to that file: the row whose
    author date is `author_date - age` (age is the time since the file last changed)."""
    row_at = {}
    found = np.full(len(df), -1)
    for i, (t, age, nf) in enumerate(zip(df.author_date.values, df.age.values, df.nf.values)):
        if nf == 1 and age > 0:
            found[i] = row_at.get(t - age, -1)
        row_at[t] = i
    return found


CONTEXT = {}


def context(name):
    def register(fn):
        CONTEXT[name] = fn
        return fn

    return register


@context("hour of day (UTC)")
def _(df, x):
    hour = (df.author_date // 3600) % 24
    x["hour_sin"] = np.sin(2 * np.pi * hour / 24)
    x["hour_cos"] = np.cos(2 * np.pi * hour / 24)


@context("weekend (UTC)")
def _(df, x):
    weekday = (df.author_date // 86400 + 4) % 7  # 1970-01-01 was a Thursday; 0 = Sunday
    x["weekend"] = weekday.isin([0, 6]).astype(float)


@context("time since the project's previous change")
def _(df, x):
    x["gap"] = np.log1p(df.author_date.diff().fillna(0).clip(lower=0))


@context("changes in the past day")
def _(df, x):
    t = df.author_date.values
    x["past_day"] = np.log1p(np.arange(len(t)) - np.searchsorted(t, t - 86400, side="left"))


@context("share of fixes among the previous 50 changes")
def _(df, x):
    x["fixes50"] = df.fix.shift(1).rolling(50, min_periods=1).mean().fillna(0)


@context("share of fixes among the previous 200 changes")
def _(df, x):
    x["fixes200"] = df.fix.shift(1).rolling(200, min_periods=1).mean().fillna(0)


@context("rank of la among the previous 200 changes")
def _(df, x):
    x["la_rank"] = earlier_rank(np.log1p(df.la.values.astype(float)), 200)


@context("previous change to the same file: fix, size, fixes along its chain")
def _(df, x):
    previous = previous_same_file(df)
    fix = df.fix.values
    chain = np.zeros(len(df))
    x["prev_known"] = (previous >= 0).astype(float)
    x["prev_fix"] = 0.0
    x["prev_la"] = 0.0
    for i, j in enumerate(previous):
        if j >= 0:
            x.iat[i, x.columns.get_loc("prev_fix")] = fix[j]
            x.iat[i, x.columns.get_loc("prev_la")] = np.log1p(df.la.values[j])
            chain[i] = fix[j] + (chain[j] if df.nf.values[j] == 1 else 0)
    x["prev_chain_fixes"] = np.log1p(chain)


def standardise(train, *others):
    mean, std = train.mean(), train.std(ddof=0).replace(0, 1)
    return [((f - mean) / std).fillna(0).values for f in (train,) + others]


def logistic(features, half_life=None):
    def fit_predict(parts):
        xs, ys, ws = [], [], []
        for df, x, fit_rows, _ in parts:
            y = df.buggy.values[fit_rows]
            w = np.where(y == 1, POSITIVE_WEIGHT, 1.0)
            if half_life:
                t = df.author_date.values[fit_rows]
                w = w * 0.5 ** ((t.max() - t) / 86400 / half_life)
            xs.append(x.iloc[fit_rows])
            ys.append(y)
            ws.append(w)
        train, *evals = standardise(pd.concat(xs), *[x.iloc[rows] for _, x, _, rows in parts])
        model = LogisticRegression(C=1 / ALPHA, max_iter=5000)
        model.fit(train, np.concatenate(ys), sample_weight=np.concatenate(ws))
        return [model.decision_function(e) for e in evals]

    return features, fit_predict


def pairwise(features, pairs=100_000, seed=0):
    def fit_predict(parts):
        rng = np.random.default_rng(seed)
        train, *evals = standardise(
            pd.concat([x.iloc[rows] for _, x, rows, _ in parts]), *[x.iloc[rows] for _, x, _, rows in parts]
        )
        diffs, offset = [], 0
        for df, _, fit_rows, _ in parts:
            z = train[offset : offset + len(fit_rows)]
            offset += len(fit_rows)
            y = df.buggy.values[fit_rows]
            pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
            diffs.append(z[rng.choice(pos, pairs)] - z[rng.choice(neg, pairs)])
        d = np.vstack(diffs)
        model = LogisticRegression(C=1 / ALPHA, fit_intercept=False, max_iter=5000)
        model.fit(np.vstack([d, -d]), np.r_[np.ones(len(d)), np.zeros(len(d))])
        return [e @ model.coef_[0] for e in evals]

    return features, fit_predict


def trees(features):
    def fit_predict(parts):
        out = []
        for df, x, fit_rows, eval_rows in parts:  # one model per set: trees need no pooling
            model = HistGradientBoostingClassifier(
                max_iter=300, learning_rate=0.03, max_leaf_nodes=15, min_samples_leaf=50, random_state=0
            )
            model.fit(x.iloc[fit_rows], df.buggy.values[fit_rows])
            out.append(model.predict_proba(x.iloc[eval_rows])[:, 1])
        return out

    return features, fit_predict


def held_features(df):
    """The shipped model's inputs now: earlier changes per touched file instead of their sum."""
    x = shipped(df)
    x["nuc"] = np.log1p(df.nuc / np.maximum(df.nf, 1))
    return x


# The catalogue's directions: +1 may only raise the risk, -1 only lower it, 0 free; `None`
# is held at zero (`train` finds these two break the model's monotonicity in their inputs).
HELD_SIGNS = {"la": 1, "ld": 1, "nf": 1, "nd": 1, "ns": 1, "entropy": 1, "aexp": -1, "arexp": -1,
              "asexp": -1, "nuc": -1, "ratio_la_nf": None, "share_ld_la": None}
HELD_ALPHA = 0.1  # the L2 strength validation chose for the held fit


def bounded(groups=None, pairs=None, balanced=False, signs=None, row_weight=None, alphas=None):
    """A class-weighted logistic fit with each coefficient bounded to its direction. With
    `groups` (df -> a label per row), one intercept per label is fitted and then dropped. With
    `pairs`, a ranking fit on that many buggy-minus-clean pairs per set instead. With
    `balanced`, each set weighs as much in the fit as the other, whatever its rows. `signs`
    adds directions for columns a variant adds to the shipped ones. `row_weight` (df, rows ->
    a factor per row) scales the training rows' weights; `alphas` sets another L2 strength
    for some columns."""

    def fit_predict(parts):
        train, *evals = standardise(pd.concat([x.iloc[rows] for _, x, rows, _ in parts]),
                                    *[x.iloc[rows] for _, x, _, rows in parts])
        columns = parts[0][1].columns
        held = {**HELD_SIGNS, **(signs or {})}
        bounds = []
        for c in columns:
            sign = held.get(c, 0)
            bounds.append((0, 0) if sign is None else (0, None) if sign > 0 else (None, 0) if sign < 0 else (None, None))
        y = np.concatenate([df.buggy.values[rows] for df, _, rows, _ in parts])
        if pairs:
            rng, diffs, offset = np.random.default_rng(0), [], 0
            for df, _, rows, _ in parts:
                yy = y[offset : offset + len(rows)]
                pos, neg = np.flatnonzero(yy == 1) + offset, np.flatnonzero(yy == 0) + offset
                diffs.append(train[rng.choice(pos, pairs)] - train[rng.choice(neg, pairs)])
                offset += len(rows)
            x, y, w = np.vstack(diffs), np.ones(pairs * len(parts)), 1.0
            g = np.zeros((len(x), 0))
        else:
            x, w = train, np.where(y == 1, POSITIVE_WEIGHT, 1.0)
            if row_weight:
                w = w * np.concatenate([row_weight(df, rows) for df, _, rows, _ in parts])
            if balanced:
                w = w * np.concatenate([np.full(len(rows), len(y) / len(parts) / len(rows))
                                        for _, _, rows, _ in parts])
            labels = np.concatenate([groups(df)[rows] if groups else np.zeros(len(rows))
                                     for df, _, rows, _ in parts])
            _, index = np.unique(labels, return_inverse=True)
            g = np.zeros((len(labels), index.max() + 1))
            g[np.arange(len(labels)), index] = 1
        k = g.shape[1]
        alpha = np.array([(alphas or {}).get(c, HELD_ALPHA) for c in columns])

        def loss(p):
            b, c = p[:k], p[k:]
            z = g @ b + x @ c
            grad = w * (1 / (1 + np.exp(-z)) - y)
            value = (w * (np.logaddexp(0, z) - y * z)).sum() + (alpha * c) @ c / 2
            return value, np.concatenate([g.T @ grad, x.T @ grad + alpha * c])

        fitted = minimize(loss, np.zeros(k + x.shape[1]), jac=True, method="L-BFGS-B",
                          bounds=[(None, None)] * k + bounds, options={"maxiter": 5000}).x
        return [e @ fitted[k:] for e in evals]

    return fit_predict


def churn_for_la(df, x):
    """Lines changed (added and deleted) as the size input in place of lines added."""
    x["la"] = np.log1p((df.la + df.ld).clip(lower=0))


def by_bugcount(df, rows):
    """Each buggy row weighed by the number of bugs it induced (the datasets' `bugcount`),
    scaled so that the buggy rows weigh as much in all as before."""
    bugs = df.bugcount.values[rows].astype(float)
    buggy = bugs > 0
    factor = np.ones(len(rows))
    factor[buggy] = bugs[buggy] / bugs[buggy].mean()
    return factor


def without_largest(share):
    """The training rows above the `1 - share` quantile of lines added, left out of the fit."""

    def factor(df, rows):
        la = df.la.values[rows]
        return np.where(la > np.quantile(la, 1 - share), 0.0, 1.0)

    return factor


def without_fix(df, x):
    x["fix"] = 0.0


HISTORY_COLUMNS = ("fix", "ndev", "age", "nuc", "hinge_age")


def monotone_trees(fit_predict_signs):
    """Gradient-boosted trees on the shipped inputs, each held to the same direction (free
    where the fit is free, and where the fit holds a column at zero)."""

    def fit_predict(parts):
        train = pd.concat([x.iloc[rows] for _, x, rows, _ in parts])
        y = np.concatenate([df.buggy.values[rows] for df, _, rows, _ in parts])
        directions = [fit_predict_signs.get(c) or 0 for c in train.columns]
        model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.03, max_leaf_nodes=8,
                                               min_samples_leaf=100, l2_regularization=1.0,
                                               monotonic_cst=directions, random_state=0)
        model.fit(train, y, sample_weight=np.where(y == 1, POSITIVE_WEIGHT, 1.0))
        return [model.predict_proba(x.iloc[rows])[:, 1] for _, x, _, rows in parts]

    return fit_predict


RAMP_QUANTILES = (0.25, 0.5, 0.75, 0.9)


def ramps(columns):
    """Pieces max(0, v - knot) of each log1p column, knots at training quantiles of the set
    (the first 60% of its rows: before validation and hold-out)."""

    def add(df, x):
        for column in columns:
            v = x[column]
            for q in RAMP_QUANTILES:
                x[f"{column}_ramp{int(q * 100)}"] = np.maximum(0.0, v - np.quantile(v.iloc[: int(len(v) * 0.6)], q))

    return add


def ramp_signs(columns, sign):
    """The direction each of the `ramps(columns)` pieces is held to."""
    return {f"{column}_ramp{int(q * 100)}": sign for column in columns for q in RAMP_QUANTILES}


def signs_held_variants():
    return [
        ("shipped (as `riskgate train`, signs held)", (held_features, bounded())),
        ("+ an intercept per project", (held_features, bounded(lambda df: np.full(len(df), df.attrs["name"])))),
        ("+ an intercept per project and period", (held_features, bounded(
            lambda df: np.array([f"{df.attrs['name']}{s}" for s in df.strata])))),
        ("+ ramps of la (each may only raise)",
         (plus(ramps(["la"]), held_features), bounded(signs=ramp_signs(["la"], 1)))),
        ("+ ramps of age, ndev and nuc per file (free)",
         (plus(ramps(["age", "ndev", "nuc"]), held_features), bounded(signs=ramp_signs(["age", "ndev", "nuc"], 0)))),
        ("pairwise ranking fit, signs held", (held_features, bounded(pairs=100_000))),
        ("each project weighing the same in the fit", (held_features, bounded(balanced=True))),
        ("lines changed (la + ld) as the size input", (plus(churn_for_la, held_features), bounded())),
        ("buggy rows weighed by the bugs they induced", (held_features, bounded(row_weight=by_bugcount))),
        ("the largest 1% of training changes left out", (held_features, bounded(row_weight=without_largest(0.01)))),
        ("the largest 5% of training changes left out", (held_features, bounded(row_weight=without_largest(0.05)))),
        ("without `fix`", (plus(without_fix, held_features), bounded())),
        ("file history and `fix` penalised 100 times harder", (held_features, bounded(
            alphas={c: 100 * HELD_ALPHA for c in HISTORY_COLUMNS}))),
        ("gradient-boosted trees, the same directions", (held_features, monotone_trees(HELD_SIGNS))),
    ]


def measure(sets, variant):
    features, fit_predict = variant
    frames = [features(df) for df in sets]
    result = []
    for phase in ("validation", "hold-out"):
        parts = []
        for df, x in zip(sets, frames):
            fit, validation, train, test = split(len(df))
            parts.append((df, x, fit if phase == "validation" else train, validation if phase == "validation" else test))
        scores = fit_predict(parts)
        result.append([roc_auc_score(df.buggy.values[rows], s) for (df, _, _, rows), s in zip(parts, scores)])
    return result


SIGNALS = ["la", "ld", "nf", "nd", "ns", "ent", "fix", "ndev", "age", "nuc", "aexp", "arexp", "asexp", "nrev", "hcmt", "rtime"]


def single_signals(sets):
    print("| set | signal | training | validation | hold-out |")
    print("|---|---|---|---|---|")
    for df in sets:
        fit, validation, _, test = split(len(df))
        for column in SIGNALS:
            values = pd.to_numeric(df[column], errors="coerce").values.astype(float)
            cells = []
            for rows in (fit, validation, test):
                known = rows[~np.isnan(values[rows])]
                cells.append(f"{roc_auc_score(df.buggy.values[known], values[known]):.3f}")
            print(f"| {df.attrs['name']} | {column} | " + " | ".join(cells) + " |")


def plus(fn, base=shipped):
    def features(df):
        x = base(df)
        fn(df, x)
        return x

    return features


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="fixtures/datasets/mcintosh-kamei")
    ap.add_argument("--signals", action="store_true", help="single-signal AUC per period instead")
    ap.add_argument("--signs-held", action="store_true", help="variants of the sign-held fit instead")
    args = ap.parse_args()
    sets = [load(f"{args.data_dir}/{name}.csv", name) for name in ("qt", "openstack")]
    if args.signals:
        single_signals(sets)
        return

    if args.signs_held:
        variants = signs_held_variants()
    else:
        variants = [("shipped features (as `riskgate train`)", logistic(shipped))]
        variants += [(f"shipped + {name}", logistic(plus(fn))) for name, fn in CONTEXT.items()]
        variants += [(f"shipped, recency half-life {d} days", logistic(shipped, half_life=d)) for d in (90, 180, 365, 730)]
        variants += [
            ("shipped + review", logistic(with_review)),
            ("shipped + review, recency half-life 365 days", logistic(with_review, half_life=365)),
            ("shipped, pairwise ranking fit", pairwise(shipped)),
            ("shipped inputs, gradient-boosted trees", trees(shipped)),
            ("shipped + review inputs, gradient-boosted trees", trees(with_review)),
        ]
    names = [df.attrs["name"] for df in sets]
    print("| variant | " + " | ".join(f"validation {n}" for n in names) + " | " + " | ".join(f"hold-out {n}" for n in names) + " |")
    print("|---|" + "---|" * (2 * len(names)))
    for label, variant in variants:
        print(f"measuring: {label}", file=sys.stderr)
        validation, holdout = measure(sets, variant)
        print(f"| {label} | " + " | ".join(f"{v:.3f}" for v in validation + holdout) + " |", flush=True)


if __name__ == "__main__":
    main()
