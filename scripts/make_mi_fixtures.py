#!/usr/bin/python3
"""Writes the fixtures of tests/test_mi_attack.c and tests/test_probe.c under
tests/fixtures/mi/ (spec/unlearning_methods.md §6.3, §6.4):

- svm_entropy.json, svm_probvec.json: a membership attacker as scikit-learn
  builds it, SVC(kernel='rbf', C=3, gamma=1/dim, tol=1e-3, probability=True),
  on fixed member / non-member features (1-D entropies; 3-D probability
  vectors), with its decision_function, predict_proba, probA_/probB_ and the
  support-vector count on fixed query points.
- logreg.json: LogisticRegression(C=1, lbfgs, multinomial) on a fixed 3-class
  dataset, run with tol 1e-10 and max_iter 10000, so that its coefficients are near the
  unique optimum the C probe must reach, plus predict_proba and test accuracy.
  sklearn's lbfgs still stops at scipy's ftol (gradient ~1e-6), so the file
  also holds that answer polished by Newton steps to the exact optimum.

Run with Debian's python (it has sklearn): /usr/bin/python3 scripts/make_mi_fixtures.py
"""
import json
import os

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

OUT = "tests/fixtures/mi"


def r(a):
    """Rounds to 17 significant digits (exact double round trip), as lists."""
    return np.asarray(a, dtype=np.float64).tolist()


def entropy(p):
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return t.sum(axis=1)


def svm_case(name, member, nonmember, query):
    dim = member.shape[1]
    # Non-members first: sklearn's libsvm orders classes sorted (0 then 1) and
    # groups each class's rows in input order; the C attacker feeds libsvm the
    # same order so the two solvers walk the same path.
    x = np.vstack([nonmember, member])
    y = np.concatenate([np.zeros(len(nonmember)), np.ones(len(member))])
    svc = SVC(kernel="rbf", C=3.0, gamma=1.0 / dim, tol=1e-3, probability=True, random_state=0)
    svc.fit(x, y)
    case = {
        "sklearn": sklearn.__version__,
        "dim": dim,
        "member": r(member),
        "nonmember": r(nonmember),
        "query": r(query),
        "decision": r(svc.decision_function(query)),
        "proba_member": r(svc.predict_proba(query)[:, 1]),
        "label": r(svc.predict(query)),
        "probA": float(svc.probA_[0]),
        "probB": float(svc.probB_[0]),
        "n_support": int(svc.support_.size),
    }
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(case, f)
        f.write("\n")


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def logreg_grad_hess(x, y, k, w, b, C):
    """Gradient and Hessian of F = mean cross-entropy + |W|^2 / (2 C n), in the
    parameter order [W_0, b_0, W_1, b_1, ...] (x augmented with a 1)."""
    n, d = x.shape
    xa = np.hstack([x, np.ones((n, 1))])
    p = softmax(x @ w.T + b)
    res = p.copy()
    res[np.arange(n), y] -= 1.0
    reg = np.tile(np.r_[np.ones(d), 0.0], k) / (C * n)
    theta = np.hstack([w, b[:, None]]).ravel()
    g = (res.T @ xa).ravel() / n + reg * theta
    h = np.zeros((k * (d + 1), k * (d + 1)))
    for i in range(n):
        s = np.diag(p[i]) - np.outer(p[i], p[i])
        h += np.kron(s, np.outer(xa[i], xa[i]))
    h = h / n + np.diag(reg)
    return g, h


def newton_polish(x, y, k, w, b, C):
    """sklearn's lbfgs stops on a relative function decrease of 64 eps (scipy's
    ftol) before the gradient is tiny; a few Newton steps from its answer reach
    the unique optimum to machine precision. The Hessian is singular along
    b + t 1 (softmax is shift invariant); the pseudo-inverse step stays off it,
    keeping sum_k b_k = 0 as sklearn's solution has."""
    d = x.shape[1]
    w, b = w.copy(), b.copy()
    for _ in range(20):
        g, h = logreg_grad_hess(x, y, k, w, b, C)
        step = np.linalg.pinv(h, rcond=1e-12) @ g
        theta = np.hstack([w, b[:, None]]).ravel() - step
        theta = theta.reshape(k, d + 1)
        w, b = theta[:, :d], theta[:, d].copy()
        if np.abs(g).max() < 1e-14:
            break
    g, _ = logreg_grad_hess(x, y, k, w, b, C)
    return w, b, float(np.abs(g).max())


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240603)

    # Entropy features: a trained model is more confident (lower entropy) on
    # its training pairs than on held-out ones, with overlap.
    member = np.abs(rng.normal(0.25, 0.18, size=(200, 1)))
    nonmember = np.abs(rng.normal(0.55, 0.22, size=(200, 1)))
    query = np.linspace(0.0, 1.2, 41).reshape(-1, 1)
    svm_case("svm_entropy.json", member, nonmember, query)

    # Probability-vector features (φ = p, K = 3): members' logits sharper.
    def probs(n, scale):
        z = rng.normal(0.0, 1.0, size=(n, 3))
        z[np.arange(n), rng.integers(0, 3, n)] += scale
        return softmax(z)

    member = probs(200, 3.0)
    nonmember = probs(200, 1.5)
    query = np.vstack([probs(15, 3.0), probs(15, 1.5)])
    svm_case("svm_probvec.json", member, nonmember, query)

    # Logistic probe: three Gaussian classes in 6-D with overlap.
    d, k = 6, 3
    means = rng.normal(0.0, 1.2, size=(k, d))
    def draw(n):
        y = rng.integers(0, k, n)
        x = means[y] + rng.normal(0.0, 1.0, size=(n, d))
        return x, y
    xtr, ytr = draw(150)
    xte, yte = draw(90)
    # Stored as float32 values (the probe reads model features as float).
    xtr = xtr.astype(np.float32).astype(np.float64)
    xte = xte.astype(np.float32).astype(np.float64)
    lr = LogisticRegression(C=1.0, solver="lbfgs", multi_class="multinomial", tol=1e-10, max_iter=10000)
    lr.fit(xtr, ytr)
    coef_opt, intercept_opt, grad_max = newton_polish(xtr, ytr, k, lr.coef_, lr.intercept_, C=1.0)
    case = {
        "sklearn": sklearn.__version__,
        "dim": d,
        "n_classes": k,
        "train_x": r(xtr),
        "train_y": ytr.tolist(),
        "test_x": r(xte),
        "test_y": yte.tolist(),
        "coef": r(lr.coef_),
        "intercept": r(lr.intercept_),
        "coef_opt": r(coef_opt),
        "intercept_opt": r(intercept_opt),
        "opt_grad_max": grad_max,
        "test_proba": r(lr.predict_proba(xte)),
        "test_accuracy": float(lr.score(xte, yte)),
        "train_accuracy": float(lr.score(xtr, ytr)),
        "n_iter": int(lr.n_iter_[0]),
    }
    with open(os.path.join(OUT, "logreg.json"), "w") as f:
        json.dump(case, f)
        f.write("\n")

    # Entropy reference values for a few distributions (0·log 0 = 0).
    ps = [[1.0, 0.0, 0.0], [0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3], [0.9, 0.1, 0.0], [0.7, 0.2, 0.1]]
    with open(os.path.join(OUT, "entropy.json"), "w") as f:
        json.dump({"p": ps, "entropy": r(entropy(np.asarray(ps, dtype=np.float32)))}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
