#!/usr/bin/env python3
"""More ideas for a monotone model (signs held), measured with the card's split, transforms,
class weight 10 (the intercept correction does not change AUC) and pooled fit, chosen on
validation only; the hold-out is printed for the record.

    python3 scripts/model-experiments-monotone.py [--data-dir fixtures/datasets/mcintosh-kamei]

Builds on scripts/model-experiments.py (`load`, `split`, `held_features`, `HELD_SIGNS`,
`HELD_ALPHA`, `standardise`). Needs numpy, pandas, scipy and scikit-learn; about 30 s.

Families (every row: validation AUC qt / openstack, hold-out qt / openstack):
  shipped   the sign-held shipped row (bounded L-BFGS, alpha 0.1), the reference
  rank      each directed signal's percentile among the same project's previous N changes
            (strictly earlier author dates, no labels), N = 200 / 1000, replacing the raw
            signal or beside it, held to the raw signal's direction
  gam       boosted depth-1 trees (an additive model), monotone per the catalogue, history
            free; the number of rounds is chosen on the mean validation AUC, then the model
            is refit on the whole training part with that number of rounds
  penalty   group-specific L2 (weak on la, heavy on history / on everything but la) and L1
            under the sign bounds, strengths chosen on validation
  envelope  the free fit's coefficients with wrong-signed ones zeroed, no refit
"""

import argparse
import os
import sys

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

import importlib.util

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("model_experiments", os.path.join(HERE, "model-experiments.py"))
me = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(me)
HISTORY = ["fix", "ndev", "age", "nuc", "hinge_age"]
SIZE_SPREAD = {"la": "la", "ld": "ld", "nf": "nf", "nd": "nd", "ns": "ns", "entropy": "ent"}
EXPERIENCE = {"aexp": "aexp", "arexp": "arexp", "asexp": "asexp"}


# ---------------------------------------------------------------- a general bounded fit

def bounds_for(columns, signs):
    out = []
    for c in columns:
        s = signs.get(c, 0)
        out.append((0, 0) if s is None else (0, None) if s > 0 else (None, 0) if s < 0 else (None, None))
    return out


def fit_bounded(x, y, w, bounds, alpha, l1=None):
    """Weighted logistic loss + sum(alpha/2 c^2) + sum(l1 |c|), with an unpenalised intercept,
    each coefficient in its bounds. L1 through c = u - v, u, v >= 0 (each sign bound fixes one
    of the pair at zero). Returns (intercept, coefficients)."""
    n, p = x.shape
    l1 = np.zeros(p) if l1 is None else l1
    ub = [(0, 0) if hi == 0 else (0, None) for lo, hi in bounds]  # u: the positive part
    vb = [(0, 0) if lo == 0 else (0, None) for lo, hi in bounds]  # v: the negative part

    def loss(q):
        b, u, v = q[0], q[1 : p + 1], q[p + 1 :]
        c = u - v
        z = b + x @ c
        r = w * (1 / (1 + np.exp(-z)) - y)
        value = (w * (np.logaddexp(0, z) - y * z)).sum() + (alpha * c) @ c / 2 + l1 @ (u + v)
        gc = x.T @ r + alpha * c
        return value, np.concatenate([[r.sum()], gc + l1, -gc + l1])

    q = minimize(loss, np.zeros(1 + 2 * p), jac=True, method="L-BFGS-B",
                 bounds=[(None, None)] + ub + vb, options={"maxiter": 10000}).x
    return q[0], q[1 : p + 1] - q[p + 1 :]


def linear(signs=None, alphas=None, l1=None, envelope=False, keep=None):
    """A pooled, class-weighted linear fit. `signs` overrides the card's directions;
    `alphas` / `l1` map a column to its L2 / L1 strength (default L2 0.1, no L1). With
    `envelope`, the fit is free and the coefficients whose sign the card forbids are then
    zeroed without refitting (`keep` lists held-at-zero columns to keep as fitted)."""

    def fit_predict(parts):
        train, *evals = me.standardise(pd.concat([x.iloc[rows] for _, x, rows, _ in parts]),
                                       *[x.iloc[rows] for _, x, _, rows in parts])
        columns = list(parts[0][1].columns)
        held = {**me.HELD_SIGNS, **(signs or {})}
        y = np.concatenate([df.buggy.values[rows] for df, _, rows, _ in parts])
        w = np.where(y == 1, me.POSITIVE_WEIGHT, 1.0)
        alpha = np.array([(alphas or {}).get(c, me.HELD_ALPHA) for c in columns])
        pen = np.array([(l1 or {}).get(c, 0.0) for c in columns])
        if envelope:
            _, c = fit_bounded(train, y, w, [(None, None)] * len(columns), alpha, pen)
            for i, col in enumerate(columns):
                s = held.get(col, 0)
                if (s is None and col not in (keep or ())) or (s and s * c[i] < 0):
                    c[i] = 0.0
        else:
            _, c = fit_bounded(train, y, w, bounds_for(columns, held), alpha, pen)
        fit_predict.coef = dict(zip(columns, np.round(c, 3)))
        if envelope and keep:
            fit_predict.monotone = {**getattr(fit_predict, "monotone", {}), **monotone_check(parts, c)}
        return [e @ c for e in evals]

    return fit_predict


DIRECTED_RAW = {"la": 1, "ld": 1, "nf": 1, "nd": 1, "ns": 1, "ent": 1, "aexp": -1, "arexp": -1, "asexp": -1}


def monotone_check(parts, c, sample=2000):
    """As src/model/monotone.rs: raise each directed raw signal of `sample` training changes by
    +1, x2 and x10 (entropy: +0.1, +0.3, to 1) and count the changes whose score moves the wrong
    way (by more than 1e-9). Returns the number of violations per signal (empty: monotone)."""
    frames = [df.iloc[rows] for df, _, rows, _ in parts]
    raw = pd.concat(frames).reset_index(drop=True)
    fitted = pd.concat([me.held_features(f) for f in frames])
    mean, std = fitted.mean(), fitted.std(ddof=0).replace(0, 1)
    pick = np.random.default_rng(0).choice(len(raw), min(sample, len(raw)), replace=False)
    raw = raw.iloc[pick].reset_index(drop=True)

    def score(df):
        return (((me.held_features(df) - mean) / std).fillna(0).values) @ c

    base = score(raw)
    bad = {}
    for col, sign in DIRECTED_RAW.items():
        for how in ("+1", "x2", "x10"):
            up = raw.copy()
            if col == "ent":
                up[col] = np.minimum(1.0, up[col] + {"+1": 0.1, "x2": 0.3, "x10": 1.0}[how])
            else:
                up[col] = up[col] + 1 if how == "+1" else up[col] * (2 if how == "x2" else 10)
            n = int((sign * (score(up) - base) < -1e-9).sum())
            if n:
                bad[f"{col}{how}"] = n
    return bad


# ---------------------------------------------------------------- 1. within-project ranks

def earlier_percentile(values, times, window):
    """Mid-rank percentile of each value among the `window` changes of the same project with a
    strictly earlier author date (0.5 when there is none)."""
    first = np.searchsorted(times, times, side="left")  # rows before this timestamp
    out = np.full(len(values), 0.5)
    for i in range(len(values)):
        end = first[i]
        if end == 0:
            continue
        win = values[max(0, end - window) : end]
        out[i] = (win < values[i]).mean() + 0.5 * (win == values[i]).mean()
    return out


_RANK_CACHE = {}


def rank_features(window, columns, replace):
    def features(df):
        x = me.held_features(df)
        t = df.author_date.values
        for name, raw in columns.items():
            key = (df.attrs["name"], raw, window)
            if key not in _RANK_CACHE:
                _RANK_CACHE[key] = earlier_percentile(df[raw].values.astype(float), t, window)
            rank = _RANK_CACHE[key]
            if replace:
                x[name] = rank  # keeps the column name, so its direction stays the card's
            else:
                x[f"rank{window}_{name}"] = rank
        return x

    return features


def rank_signs(window, columns):
    return {f"rank{window}_{name}": me.HELD_SIGNS[name] for name in columns}


# ---------------------------------------------------------------- 2. additive monotone trees

GAM_SIGNS = {"la": 1, "ld": 1, "nf": 1, "nd": 1, "ns": 1, "entropy": 1,
             "aexp": -1, "arexp": -1, "asexp": -1, "nuc": -1, "fix": 0, "ndev": 0, "age": 0}


def gam_features(df):
    x = me.held_features(df)  # nuc is already per touched file; trees need no hinge/ratios
    return x[list(GAM_SIGNS)]


def gam(learning_rate, min_samples_leaf=200, l2=1.0, max_rounds=3000, step=25):
    """Boosted stumps (max_depth=1: each tree one split of one feature, i.e. an additive model),
    monotone per GAM_SIGNS, pooled, buggy rows weighted 10. The number of rounds is chosen on
    the mean of the two validation AUCs; the hold-out model is refit with that number."""
    chosen = {}

    def model(rounds):
        return HistGradientBoostingClassifier(
            max_depth=1, learning_rate=learning_rate, max_iter=rounds, min_samples_leaf=min_samples_leaf,
            l2_regularization=l2, monotonic_cst=[GAM_SIGNS[c] for c in GAM_SIGNS],
            early_stopping=False, random_state=0)

    def fit_predict(parts):
        x = pd.concat([x.iloc[rows] for _, x, rows, _ in parts])
        y = np.concatenate([df.buggy.values[rows] for df, _, rows, _ in parts])
        w = np.where(y == 1, me.POSITIVE_WEIGHT, 1.0)
        if "rounds" not in chosen:  # the validation phase: pick the rounds
            m = model(max_rounds).fit(x, y, sample_weight=w)
            stages = [list(m.staged_decision_function(xx.iloc[rows])) for _, xx, _, rows in parts]
            best = (-1, 0)
            for k in range(step - 1, max_rounds, step):
                mean = np.mean([roc_auc_score(df.buggy.values[rows], s[k])
                                for (df, _, _, rows), s in zip(parts, stages)])
                best = max(best, (mean, k + 1))
            chosen["rounds"] = best[1]
            return [s[best[1] - 1] for s in stages]
        m = model(chosen["rounds"]).fit(x, y, sample_weight=w)
        return [m.decision_function(xx.iloc[rows]) for _, xx, _, rows in parts]

    fit_predict.chosen = chosen
    return fit_predict


# ---------------------------------------------------------------- measurement

def measure(sets, features, fit_predict):
    frames = [features(df) for df in sets]
    result = []
    for phase in ("validation", "hold-out"):
        parts = []
        for df, x in zip(sets, frames):
            fit, validation, train, test = me.split(len(df))
            parts.append((df, x, fit if phase == "validation" else train,
                          validation if phase == "validation" else test))
        scores = fit_predict(parts)
        result.append([roc_auc_score(df.buggy.values[rows], s) for (df, _, _, rows), s in zip(parts, scores)])
    return result


def variants():
    out = [("shipped (sign-held, alpha 0.1)", "shipped", me.held_features, linear())]
    # 1. ranks
    both = {**SIZE_SPREAD, **EXPERIENCE}
    for n in (200, 1000):
        out.append((f"rank{n} replaces la..entropy", "rank", rank_features(n, SIZE_SPREAD, True), linear()))
        out.append((f"rank{n} replaces la..entropy + exp", "rank", rank_features(n, both, True), linear()))
        out.append((f"rank{n} beside la..entropy", "rank", rank_features(n, SIZE_SPREAD, False),
                    linear(signs=rank_signs(n, SIZE_SPREAD))))
        out.append((f"rank{n} beside la..entropy + exp", "rank", rank_features(n, both, False),
                    linear(signs=rank_signs(n, both))))
    # 2. additive monotone trees (stumps)
    for lr in (0.03, 0.1):
        out.append((f"monotone stumps (GAM), lr {lr}", "gam", gam_features, gam(lr)))
    out.append(("monotone stumps (GAM), lr 0.1, leaves >= 1000, l2 10", "gam", gam_features,
                gam(0.1, min_samples_leaf=1000, l2=10.0)))
    # 3. group-specific penalties
    for h in (1e2, 1e3, 1e4):
        out.append((f"L2 la 0.001, history {h:g}", "penalty", me.held_features,
                    linear(alphas={"la": 1e-3, **{c: h for c in HISTORY}})))
    out.append(("L2 la 0.001, all else 1e3", "penalty", me.held_features,
                linear(alphas={c: (1e-3 if c == "la" else 1e3) for c in me.held_features(SETS[0]).columns})))
    for lam in (10, 100, 1000):
        out.append((f"L1 {lam:g} on all but la (+ L2 0.1)", "penalty", me.held_features,
                    linear(l1={c: lam for c in me.held_features(SETS[0]).columns if c != "la"})))
    # 4. monotone envelope of the free fit
    out.append(("free fit (reference, not monotone)", "envelope", me.held_features,
                linear(signs={c: 0 for c in me.HELD_SIGNS})))
    out.append(("envelope: free fit, wrong signs zeroed", "envelope", me.held_features, linear(envelope=True)))
    out.append(("envelope, ratio(la,nf) and share(ld,la) kept as fitted", "envelope", me.held_features,
                linear(envelope=True, keep=("ratio_la_nf", "share_ld_la"))))
    out.append(("envelope, ratio(la,nf) kept as fitted", "envelope", me.held_features,
                linear(envelope=True, keep=("ratio_la_nf",))))
    return out


SETS = []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=os.path.join(HERE, "..", "fixtures", "datasets", "mcintosh-kamei"))
    args = ap.parse_args()
    SETS.extend(me.load(f"{args.data_dir}/{n}.csv", n) for n in ("qt", "openstack"))
    rows = []
    print("| variant | family | validation qt / openstack (mean) | hold-out qt / openstack | "
          "Δ val mean | Δ hold-out qt / openstack | note |")
    print("|---|---|---|---|---|---|---|")
    base = None
    for label, family, features, fit_predict in variants():
        print(f"measuring: {label}", file=sys.stderr, flush=True)
        (vq, vo), (hq, ho) = measure(SETS, features, fit_predict)
        vm = (vq + vo) / 2
        if base is None:
            base = (vm, hq, ho)
        note = ""
        eligible = "not monotone" not in label
        if getattr(fit_predict, "monotone", None) is not None:
            bad = fit_predict.monotone
            eligible = not bad
            note = ("monotone on 2,000 training changes; " if not bad else
                    "NOT monotone (wrong-way moves: " + ", ".join(f"{k} {v}" for k, v in bad.items()) + "); ")
        if getattr(fit_predict, "chosen", None):
            note = f"rounds {fit_predict.chosen['rounds']}"
        elif getattr(fit_predict, "coef", None):
            nz = {k: v for k, v in fit_predict.coef.items() if v != 0}
            note += "hold-out fit: " + ", ".join(f"{k} {v:+.3f}" for k, v in nz.items())
        rows.append((label, family, vq, vo, vm, hq, ho, eligible))
        print(f"| {label} | {family} | {vq:.4f} / {vo:.4f} ({vm:.4f}) | {hq:.4f} / {ho:.4f} | "
              f"{vm - base[0]:+.4f} | {hq - base[1]:+.4f} / {ho - base[2]:+.4f} | {note} |", flush=True)
    print()
    print("Best per family by mean validation AUC (hold-out only reported):")
    for family in dict.fromkeys(r[1] for r in rows):
        candidates = [r for r in rows if r[1] == family and r[7]]
        if not candidates:
            continue
        best = max(candidates, key=lambda r: r[4])
        beats = best[4] > base[0] and best[5] >= 0.755 and best[6] >= 0.749
        print(f"  {family}: {best[0]}: val mean {best[4]:.4f}, hold-out {best[5]:.4f} / {best[6]:.4f}"
              f" -> {'beats shipped and reaches both floors' if beats else 'does not qualify'}")


if __name__ == "__main__":
    main()
