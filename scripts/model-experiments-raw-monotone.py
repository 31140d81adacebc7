#!/usr/bin/env python3
"""The shipped model held monotone in its directed RAW inputs instead of coefficient by
coefficient, measured with the card's split, transforms, class weight 10 and pooled fit,
chosen on validation only (hold-out printed for the record).

    python3 scripts/model-experiments-raw-monotone.py
        [--data-dir fixtures/datasets/mcintosh-kamei] [--sample 4000] [--no-grid]

Builds on scripts/model-experiments.py (`load`, `split`, `held_features`, `standardise`,
`HELD_SIGNS`, `POSITIVE_WEIGHT`) and scripts/model-experiments-monotone.py (`measure`,
`fit_bounded`, `bounds_for`), imported from --scripts-dir (default: this
file's directory). Writes nothing there (no bytecode). Needs numpy, pandas, scipy, scikit-learn; a few minutes.

The idea. The card holds EACH coefficient to a sign. What a reviewer needs is weaker: the
MODEL's score must not move the wrong way when one directed raw input (la, ld, nf, nd, ns,
ent up: not down; aexp, arexp, asexp up: not up) is raised, the rest held. The logit is linear
in the coefficients c, so for a change x and a step s of raw input j that is the linear
inequality  sign_j * (z(x with x_j stepped) - z(x)) . c >= 0  (z = the standardised
features). The fit is the class-weighted (10), L2 (alpha) logistic loss subject to these
inequalities over a sample of training changes (default 4,000) x each directed raw input x
the steps of monotone_check (+1, x2, x10; entropy +0.1, +0.3, to 1) and of
src/model/monotone.rs (v+1, 2v+1, 10v+10). It is solved by cutting planes: SLSQP on the
constraints violated so far (deduplicated, unit-normalised), adding the most violated ones
of the whole set each round until none is violated.

Undirected inputs (fix, ndev, age, ratio(nuc,nf), hinge(age)) are free, as in the card; the
card's extra bound on ratio(nuc,nf) (<= 0, "because more files must not" lower the risk) is
replaced by the nf constraint, which is that reason stated directly.

Verification: `violations` below, which is `monotone_check` of model-experiments-monotone.py
generalised to any feature set and to both step sets, on a DIFFERENT sample of training changes (disjoint from the constraint sample), on every
validation / hold-out change, with both step sets. Violations (score moving the wrong way by
more than 1e-9) are counted per input and step.

Rows:
  A  reference: the card's per-coefficient signs (bounded fit), and the free fit
  1  the shipped 16 features, raw-monotone (each directed input alone)
  2  the same + relational features that the joint constraint makes usable:
     ratio(la,nd), ratio(la,ns), ratio(nd,nf), ratio(ns,nd), mul(entropy,la),
     ratio(ld,nf), ratio(la,exp) -- each alone and all together
  3  experience constrained along the JOINT direction (aexp, arexp, asexp raised together by
     the same step: a more experienced author) instead of each alone. A WEAKER guarantee:
     raising one of them alone may move the score the wrong way (its count is reported).
     3b: aexp and arexp jointly (0.999 correlated), asexp alone.
  D  diagnostics, NOT monotone and never chosen: raw-monotone in every directed input but one
     (or the experience inputs, or nd/ns/ent with the relational features), to show where the
     free fit's extra AUC lives.
Each row at alpha 0.1; with the grid (default on), the card's grid 1e-3..1e3 in half decades
is also searched for the rows named in GRID_ROWS, alpha chosen on mean validation AUC.
"""

import argparse
import os
import sys
import time

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # threaded BLAS on 30k x 16 matrices thrashes: ~8x slower
sys.dont_write_bytecode = True  # never write __pycache__ next to the imported scripts

import importlib.util

import numpy as np
import pandas as pd
from scipy.optimize import minimize

HERE = os.path.dirname(os.path.abspath(__file__))


def _import(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scripts_dir(arg):
    if arg:
        return arg
    return HERE


me = mono = None  # set in main(): model-experiments.py, model-experiments-monotone.py

# ---------------------------------------------------------------- features

def extra(name):
    """A relational feature computed from raw columns (each a pure function of one change)."""
    la, ld = "la", "ld"
    table = {
        "ratio_la_nd": lambda d: np.log1p(d[la].clip(lower=0) / np.maximum(d.nd, 1)),
        "ratio_la_ns": lambda d: np.log1p(d[la].clip(lower=0) / np.maximum(d.ns, 1)),
        "ratio_nd_nf": lambda d: d.nd / np.maximum(d.nf, 1),
        "ratio_ns_nd": lambda d: d.ns / np.maximum(d.nd, 1),
        "mul_ent_la": lambda d: d.ent * np.log1p(d[la].clip(lower=0)),
        "ratio_ld_nf": lambda d: np.log1p(d[ld].clip(lower=0) / np.maximum(d.nf, 1)),
        "ratio_la_exp": lambda d: np.log1p(d[la].clip(lower=0) / np.maximum(d.aexp, 1)),
    }
    return table[name]


EXTRAS = ["ratio_la_nd", "ratio_la_ns", "ratio_nd_nf", "ratio_ns_nd", "mul_ent_la", "ratio_ld_nf", "ratio_la_exp"]


def features_with(names=()):
    def features(df):
        x = me.held_features(df)
        for n in names:
            x[n] = extra(n)(df)
        return x

    features.names = tuple(names)
    return features


# ---------------------------------------------------------------- directed moves and steps

DIRECTED = {"la": 1, "ld": 1, "nf": 1, "nd": 1, "ns": 1, "ent": 1, "aexp": -1, "arexp": -1, "asexp": -1}
EXPERIENCE = ("aexp", "arexp", "asexp")


def moves(experience="each", relax=()):
    """(label, raw columns raised together, direction). `experience`: 'each' (every input
    alone), 'joint' (aexp, arexp, asexp together), 'joint2' (aexp+arexp together, asexp alone).
    Inputs named in `relax` are left unconstrained (diagnostic rows only)."""
    out = [(c, (c,), s) for c, s in DIRECTED.items() if c not in EXPERIENCE]
    if experience == "each":
        out += [(c, (c,), -1) for c in EXPERIENCE]
    elif experience == "joint":
        out += [("exp+rexp+sexp", EXPERIENCE, -1)]
    elif experience == "joint2":
        out += [("exp+rexp", ("aexp", "arexp"), -1), ("asexp", ("asexp",), -1)]
    return [m for m in out if not set(m[1]) & set(relax)]


def step_values(col, v, how):
    """The value raw input `col` is raised to from `v`: monotone_check's steps (+1, x2, x10;
    entropy +0.1, +0.3, to 1) and src/model/monotone.rs's (v+1, 2v+1, 10v+10)."""
    if col == "ent":
        return {"+1": np.minimum(1.0, v + 0.1), "x2": np.minimum(1.0, v + 0.3), "x10": np.ones_like(v),
                "r2v+1": 2 * v.clip(lower=0) + 1, "r10v+10": 10 * v.clip(lower=0) + 10}[how]
    return {"+1": v + 1, "x2": v * 2, "x10": v * 10,
            "r2v+1": 2 * v.clip(lower=0) + 1, "r10v+10": 10 * v.clip(lower=0) + 10}[how]


STEPS = ("+1", "x2", "x10", "r2v+1", "r10v+10")


def directed_differences(raw, features, mean, std, mv):
    """For each move and step: sign * (z(raised) - z(raw)), one row per change. Returns a list
    of (label, matrix) with z the standardised features (missing: 0, as in training)."""

    def z(df):
        return ((features(df) - mean) / std).fillna(0).values

    base = z(raw)
    out = []
    for label, cols, sign in mv:
        for how in STEPS:
            up = raw.copy()
            for c in cols:
                up[c] = step_values(c, up[c].astype(float), how)
            out.append((f"{label} {how}", sign * (z(up) - base)))
    return out


def constraint_matrix(raw, features, mean, std, mv):
    """Unit-normalised, deduplicated rows d with d . c >= 0 required."""
    d = np.vstack([m for _, m in directed_differences(raw, features, mean, std, mv)])
    norm = np.linalg.norm(d, axis=1)
    d = d[norm > 1e-12] / norm[norm > 1e-12, None]
    return np.unique(np.round(d, 10), axis=0)


def violations(raw, features, mean, std, c, mv, tol=1e-9):
    """Per move and step, the number of changes whose score moves the wrong way (> tol)."""
    bad = {}
    for label, m in directed_differences(raw, features, mean, std, mv):
        n = int((m @ c < -tol).sum())
        if n:
            bad[label] = n
    return bad


# ---------------------------------------------------------------- the constrained fit

def fit_constrained(x, y, w, alpha, A, bounds=None, max_rounds=40, add=200, tol=1e-10, active=None):
    """min  [sum w*logloss(b + x c) + alpha/2 |c|^2] / sum(w)   s.t.  A c >= 0 (rows of A),
    each c in `bounds`. Cutting planes: start from the bounded fit, add the `add` most violated
    rows of A, re-solve with SLSQP (warm start), until no row is violated by more than tol.
    Returns (intercept, c, info)."""
    n, p = x.shape
    x = np.asfortranarray(x)  # x @ c is ~40x faster column-major here
    W = w.sum()
    bounds = bounds or [(None, None)] * p

    def loss(q):
        b, c = q[0], q[1:]
        z = b + x @ c
        r = w * (1 / (1 + np.exp(-z)) - y)
        value = ((w * (np.logaddexp(0, z) - y * z)).sum() + alpha * (c @ c) / 2) / W
        return value, np.concatenate([[r.sum()], x.T @ r + alpha * c]) / W

    q = minimize(loss, np.zeros(1 + p), jac=True, method="L-BFGS-B", bounds=[(None, None)] + bounds,
                 options={"maxiter": 10000, "ftol": 1e-14, "gtol": 1e-10}).x
    active = np.zeros(len(A), bool) if active is None else active.copy()
    rounds = 0
    for rounds in range(1, max_rounds + 1):
        g = A @ q[1:]
        viol = np.flatnonzero((g < -tol) & ~active)
        if len(viol) == 0 and (rounds > 1 or not active.any()):
            break
        viol = viol[np.argsort(g[viol])][:add]
        active[viol] = True
        Aw = np.hstack([np.zeros((active.sum(), 1)), A[active]])
        res = minimize(loss, q, jac=True, method="SLSQP", bounds=[(None, None)] + bounds,
                       constraints=[{"type": "ineq", "fun": lambda q, Aw=Aw: Aw @ q, "jac": lambda q, Aw=Aw: Aw}],
                       options={"maxiter": 2000, "ftol": 1e-13})
        q = res.x
    g = A @ q[1:]
    return q[0], q[1:], {"rounds": rounds, "working_set": int(active.sum()), "constraints": len(A),
                         "worst": float(g.min()) if len(g) else 0.0, "active": active}


_CACHE = {}


def raw_monotone(experience="each", alpha=0.1, sample=4000, per_coefficient=False, free=False, features=None,
                 relax=()):
    """fit_predict for mono.measure: pooled class-weighted fit of `features`, monotone in the
    directed raw inputs over `sample` training changes (per_coefficient: the card's bounds
    instead; free: neither). Records coefficients, fit info and verification on the object."""
    mv = moves(experience, relax)

    def fit_predict(parts):
        t0 = time.time()
        fitted = pd.concat([x.iloc[rows] for _, x, rows, _ in parts])
        mean, std = fitted.mean(), fitted.std(ddof=0).replace(0, 1)
        train, *evals = me.standardise(fitted, *[x.iloc[rows] for _, x, _, rows in parts])
        columns = list(fitted.columns)
        y = np.concatenate([df.buggy.values[rows] for df, _, rows, _ in parts])
        w = np.where(y == 1, me.POSITIVE_WEIGHT, 1.0)
        raw = pd.concat([df.iloc[rows] for df, _, rows, _ in parts]).reset_index(drop=True)
        rng = np.random.default_rng(0)
        order = rng.permutation(len(raw))
        fit_sample, check_sample = raw.iloc[order[:sample]], raw.iloc[order[sample:2 * sample]]
        if per_coefficient or free:
            signs = {} if free else {**me.HELD_SIGNS}
            _, c = mono.fit_bounded(train, y, w, mono.bounds_for(columns, signs), np.full(len(columns), alpha))
            info = {}
        else:
            key = (features.names, experience, tuple(relax), len(raw), sample)
            if key not in _CACHE:  # the same constraints for every alpha of the grid
                _CACHE[key] = [constraint_matrix(fit_sample, features, mean, std, mv), None]
            A, warm = _CACHE[key]
            _, c, info = fit_constrained(train, y, w, alpha, A, active=warm)
            _CACHE[key][1] = info.pop("active")  # warm start the next alpha's working set
        fit_predict.coef = dict(zip(columns, c))
        fit_predict.info = info
        evalraw = pd.concat([df.iloc[rows] for df, _, _, rows in parts]).reset_index(drop=True)
        fit_predict.check = {
            "other training changes": violations(check_sample, features, mean, std, c, moves("each")),
            "evaluated changes": violations(evalraw, features, mean, std, c, moves("each")),
        }
        if experience != "each":
            fit_predict.check["evaluated changes, joint experience"] = violations(evalraw, features, mean, std, c, mv)
            fit_predict.check["other training changes, joint experience"] = violations(check_sample, features, mean, std, c, mv)
        fit_predict.seconds = time.time() - t0
        return [e @ c for e in evals]

    return fit_predict


# ---------------------------------------------------------------- the runs

def variants(sample):
    s = features_with()
    out = [
        ("A  card: per-coefficient signs (shipped)", s, dict(per_coefficient=True)),
        ("A  free fit (not monotone)", s, dict(free=True)),
        ("1  shipped 16, raw-monotone", s, dict()),
    ]
    for n in EXTRAS:
        out.append((f"2  + {n}, raw-monotone", features_with([n]), dict()))
    out.append(("2  + all seven, raw-monotone", features_with(EXTRAS), dict()))
    out.append(("3  shipped 16, experience joint (weaker)", s, dict(experience="joint")))
    out.append(("3b shipped 16, exp+rexp joint, sexp alone (weaker)", s, dict(experience="joint2")))
    out.append(("3  + all seven, experience joint (weaker)", features_with(EXTRAS), dict(experience="joint")))
    # D: diagnostics, NOT monotone: raw-monotone in every directed input but one (left free),
    # to show where the free fit's extra AUC lives. Never eligible.
    for c in ("ld", "nf", "nd", "ns", "ent"):
        out.append((f"D  shipped 16, raw-monotone except {c} (NOT monotone)", s, dict(relax=(c,))))
    out.append(("D  shipped 16, raw-monotone except experience (NOT monotone)", s, dict(relax=EXPERIENCE)))
    out.append(("D  + all seven, raw-monotone except nd, ns, ent (NOT monotone)", features_with(EXTRAS),
                dict(relax=("nd", "ns", "ent"))))
    return [(label, f, {**kw, "sample": sample}) for label, f, kw in out]


def fmt_check(check):
    parts = []
    for where, bad in check.items():
        total = sum(bad.values())
        parts.append(f"{where}: {total}" + (" (" + ", ".join(f"{k} {v}" for k, v in bad.items()) + ")" if bad else ""))
    return "; ".join(parts)


def main():
    global me, mono
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scripts-dir", default=None)
    ap.add_argument("--data-dir", default=os.path.join(HERE, "..", "fixtures", "datasets", "mcintosh-kamei"))
    ap.add_argument("--sample", type=int, default=4000, help="training changes the constraints are built on")
    ap.add_argument("--no-grid", action="store_true", help="skip the alpha grid")
    ap.add_argument("--only", default=None, help="run only rows whose label contains this")
    args = ap.parse_args()
    d = scripts_dir(args.scripts_dir)
    me = _import(os.path.join(d, "model-experiments.py"), "model_experiments")
    mono = _import(os.path.join(d, "model-experiments-monotone.py"), "model_experiments_monotone")
    sets = [me.load(f"{args.data_dir}/{n}.csv", n) for n in ("qt", "openstack")]
    start = time.time()

    results = []
    print("| variant | alpha | validation qt / openstack (mean) | hold-out qt / openstack | violations, hold-out fit | s |")
    print("|---|---|---|---|---|---|")
    rows = variants(args.sample)
    if args.only:
        rows = [r for r in rows if args.only in r[0]]
    for label, features, kw in rows:
        print(f"measuring: {label}", file=sys.stderr, flush=True)
        fp = raw_monotone(features=features, **kw)
        t0 = time.time()
        (vq, vo), (hq, ho) = mono.measure(sets, features, fp)
        vm = (vq + vo) / 2
        results.append((label, features, kw, 0.1, vq, vo, vm, hq, ho, dict(fp.coef), fp.check, fp.info))
        print(f"| {label} | 0.1 | {vq:.4f} / {vo:.4f} ({vm:.4f}) | {hq:.4f} / {ho:.4f} | "
              f"{fmt_check(fp.check) if not kw.get('free') else 'not constrained: ' + fmt_check(fp.check)} | {time.time() - t0:.0f} |", flush=True)

    print()
    print("Hold-out-fit coefficients per row (standardised inputs; |c| < 0.0005 left out):")
    for r in results:
        print(f"  {r[0]}: " + ", ".join(f"{k} {v:+.3f}" for k, v in r[9].items() if abs(v) >= 5e-4))

    if not args.no_grid:
        grid = [10 ** (k / 2) for k in range(-6, 7)]
        print()
        print("Alpha grid (1e-3 .. 1e3, half decades), validation mean AUC; hold-out of the chosen alpha:")
        print()
        print("| variant | chosen alpha | validation qt / openstack (mean) | hold-out qt / openstack | violations, hold-out fit |")
        print("|---|---|---|---|---|")
        candidates = [r for r in results if not r[2].get("free")]
        for label, features, kw, *_ in candidates:
            if not (label.startswith("A  card") or label.startswith("1 ") or label.startswith("3 ")
                    or "all seven" in label):
                continue
            if label.startswith("D "):
                continue
            print(f"grid: {label}", file=sys.stderr, flush=True)
            frames = [features(df) for df in sets]
            best = None
            for a in grid:
                fp = raw_monotone(features=features, alpha=a, **kw)
                parts = []
                for df, x in zip(sets, frames):
                    fit, validation, _, _ = me.split(len(df))
                    parts.append((df, x, fit, validation))
                from sklearn.metrics import roc_auc_score
                scores = fp(parts)
                v = [roc_auc_score(df.buggy.values[r], s) for (df, _, _, r), s in zip(parts, scores)]
                if best is None or np.mean(v) > best[1] + 1e-12:
                    best = (a, np.mean(v), v)
            a = best[0]
            fp = raw_monotone(features=features, alpha=a, **kw)
            (vq, vo), (hq, ho) = mono.measure(sets, features, fp)
            results.append((label + f" [alpha {a:g}]", features, kw, a, vq, vo, (vq + vo) / 2, hq, ho,
                            dict(fp.coef), fp.check, fp.info))
            print(f"| {label} | {a:g} | {vq:.4f} / {vo:.4f} ({(vq + vo) / 2:.4f}) | {hq:.4f} / {ho:.4f} | "
                  f"{fmt_check(fp.check)} |", flush=True)

    print()
    ship = results[0]
    eligible = [r for r in results if not r[2].get("free") and not r[0].startswith(("A ", "D "))]
    strict = [r for r in eligible if r[2].get("experience", "each") == "each"]
    for title, pool in (("strict (each directed input alone)", strict),
                        ("any, including the weaker joint-experience rows", eligible)):
        if not pool:
            continue
        best = max(pool, key=lambda r: r[6])
        print(f"Best {title} by mean validation AUC: {best[0]} (alpha {best[3]:g})")
        print(f"  validation {best[4]:.4f} / {best[5]:.4f} (mean {best[6]:.4f}; shipped {ship[6]:.4f}, "
              f"{'beats' if best[6] > ship[6] else 'does not beat'} it)")
        print(f"  hold-out {best[7]:.4f} / {best[8]:.4f} (floors 0.755 / 0.749: "
              f"{'both reached' if best[7] >= 0.755 and best[8] >= 0.749 else 'not both reached'})")
        print("  coefficients (hold-out fit, standardised inputs): "
              + ", ".join(f"{k} {v:+.3f}" for k, v in best[9].items()))
        print(f"  monotone check: {fmt_check(best[10])}")
        print(f"  fit: {best[11]}")
    print(f"\ntotal {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
