"""Do the interrupted time series intervals cover? Bias, 95% coverage and width of every family x error model.

    python benchmarks/its_coverage.py [--reps 500] [--jobs 2] [--seed 20231]

Simulates monthly series, 48 months before and 36 after the intervention,
with known level and slope changes and a yearly season (one harmonic pair,
fitted with ``seasonality=1``), each under the process the methods are meant
for:

``mean``        gaussian, AR(1) errors, rho = 0.4 (sd 2 around a mean of 50)
``count``       Poisson counts (about 30 a month over about 1,000 bed days) with
                a lognormal AR(1) latent log rate (rho = 0.4, sd 0.15): over-
                dispersed and autocorrelated
``proportion``  beta-binomial (about 200 trials, precision 100) around a logit
                with an AR(1) latent term (rho = 0.4, sd 0.1)

Every method is fitted to every series with :func:`evalkit.stats.its.fit`;
the script prints, per method, the bias of the level and slope change (on
the linear-predictor scale), the share of 95% intervals that contain the true
value, the mean interval width, and how often :func:`evalkit.stats.its_auto.choose`
picks it; then the coverage of whatever ``choose`` picks, series by series.
Seeded: the same arguments print the same figures. Not run by the test suite.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.stats.its import fit  # noqa: E402
from evalkit.stats.its_auto import choose  # noqa: E402

N_PRE, N_POST = 48, 36  # four years of baseline, three of follow-up: a typical safety-improvement evaluation
RHO = 0.4  # lag-1 autocorrelation of monthly NHS safety measures, of the order Bottomley et al. (2023) simulate
START = "2018-01-01"
SCENARIOS = {
    # kind: (level change, slope change) on the linear-predictor scale
    "mean": (-5.0, -0.2),
    "count": (-0.2, -0.005),
    "proportion": (0.3, 0.01),
}
METHODS = {
    "mean": [("gaussian", e) for e in ("ols", "newey_west", "prais_winsten", "arma")],
    "count": [(f, e) for f in ("poisson", "quasipoisson", "negative_binomial") for e in ("ols", "newey_west")]
    + [("quasipoisson", "prais_winsten")],
    "proportion": [("binomial", e) for e in ("ols", "newey_west", "prais_winsten")],
}
KIND_OPTIONS = {"mean": {}, "count": {"denominator_col": "denominator"},
                "proportion": {"denominator_col": "denominator"}}
TARGET = (0.93, 0.97)


def _ar1(rng: np.random.Generator, n: int, rho: float, sd: float) -> np.ndarray:
    """Stationary AR(1) with marginal standard deviation ``sd``."""
    shocks = rng.normal(0, sd * np.sqrt(1 - rho**2), n)
    out = np.empty(n)
    out[0] = rng.normal(0, sd)
    for i in range(1, n):
        out[i] = rho * out[i - 1] + shocks[i]
    return out


def simulate(kind: str, seed: int, rho: float = RHO) -> pd.DataFrame:
    """One series of ``kind`` with the true changes in :data:`SCENARIOS`."""
    rng = np.random.default_rng(seed)
    n = N_PRE + N_POST
    t = np.arange(n)
    post = (t >= N_PRE).astype(float)
    since = (t - N_PRE) * post
    dates = pd.date_range(START, periods=n, freq="MS")
    season = np.sin(2 * np.pi * dates.month.to_numpy() / 12)  # as the design's sin1 (month 1-12)
    level, slope = SCENARIOS[kind]
    frame = pd.DataFrame({"period": dates})
    if kind == "mean":
        frame["value"] = 50 + 0.1 * t + level * post + slope * since + 3 * season + _ar1(rng, n, rho, 2.0)
    elif kind == "count":
        den = rng.integers(800, 1200, n).astype(float)
        eta = np.log(30 / 1000) + 0.002 * t + level * post + slope * since + 0.1 * season + _ar1(rng, n, rho, 0.15)
        frame["value"], frame["denominator"] = rng.poisson(den * np.exp(eta)), den
    else:
        trials = rng.integers(150, 250, n)
        eta = -1.0 + 0.004 * t + level * post + slope * since + 0.1 * season + _ar1(rng, n, rho, 0.1)
        p = 1 / (1 + np.exp(-eta))
        precision = 100.0
        frame["value"] = rng.binomial(trials, rng.beta(p * precision, (1 - p) * precision))
        frame["denominator"] = trials.astype(float)
    return frame


def _options(kind: str) -> dict:
    return dict(value_col="value", date_col="period", intervention=pd.Timestamp(START) + pd.DateOffset(months=N_PRE),
                seasonality=1, **KIND_OPTIONS[kind])


def one_replicate(args: tuple[str, int, float]) -> list[dict]:
    """Fit every method and ``choose`` to one simulated series; one record per method."""
    kind, seed, rho = args
    data = simulate(kind, seed, rho)
    truth = dict(zip(("level_change", "slope_change"), SCENARIOS[kind], strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        family, errors, _ = choose(data, kind=kind, **_options(kind))
        out = []
        for method_family, method_errors in METHODS[kind]:
            record = {"kind": kind, "seed": seed, "family": method_family, "errors": method_errors,
                      "chosen": (method_family, method_errors) == (family, errors), "failed": False}
            try:
                table = fit(data, family=method_family, errors=method_errors, **_options(kind)).summary()
            except (EvalkitError, ValueError, np.linalg.LinAlgError):  # see the failed column
                out.append(record | {"failed": True})
                continue
            terms = table[table["group"] == "treated"].set_index("term")
            for term, true in truth.items():
                row = terms.loc[term]
                record |= {f"{term}_error": row["estimate"] - true,
                           f"{term}_covered": row["ci_lower"] <= true <= row["ci_upper"],
                           f"{term}_width": row["ci_upper"] - row["ci_lower"]}
            out.append(record)
    return out


def tabulate(records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(records)
    ok = frame[~frame["failed"]]
    grouped = ok.groupby(["kind", "family", "errors"], sort=False)
    table = pd.DataFrame({
        "n": grouped.size(),
        "level_bias": grouped["level_change_error"].mean(),
        "level_cover": grouped["level_change_covered"].mean(),
        "level_width": grouped["level_change_width"].mean(),
        "slope_bias": grouped["slope_change_error"].mean(),
        "slope_cover": grouped["slope_change_covered"].mean(),
        "slope_width": grouped["slope_change_width"].mean(),
        "auto_picks": frame.groupby(["kind", "family", "errors"], sort=False)["chosen"].mean(),
        "failed": frame.groupby(["kind", "family", "errors"], sort=False)["failed"].sum(),
    })
    return table.reset_index()


def auto_coverage(records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(records)
    chosen = frame[frame["chosen"] & ~frame["failed"]]
    grouped = chosen.groupby("kind", sort=False)
    return pd.DataFrame({"n": grouped.size(), "level_cover": grouped["level_change_covered"].mean(),
                         "slope_cover": grouped["slope_change_covered"].mean()}).reset_index()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=500, help="series per kind (default 500)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=20231, help="first seed; replicate i uses seed + i")
    parser.add_argument("--kinds", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--rho", type=float, default=RHO, help=f"lag-1 autocorrelation of the errors (default {RHO})")
    args = parser.parse_args(argv)
    tasks = [(kind, args.seed + i, args.rho) for kind in args.kinds for i in range(args.reps)]
    started = time.perf_counter()
    with Pool(args.jobs) as pool:
        records = [r for batch in pool.imap(one_replicate, tasks, chunksize=8) for r in batch]
    elapsed = time.perf_counter() - started
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    print(f"ITS coverage: {args.reps} series per kind, {N_PRE} months before and {N_POST} after, AR(1) rho={args.rho}, "
          f"seed {args.seed}, {args.jobs} jobs, {elapsed:.0f} s")
    print(f"Nominal 95%; target for the method auto chooses: {TARGET[0]:.0%} to {TARGET[1]:.0%}. "
          f"Monte Carlo standard error of a coverage near 95%: {np.sqrt(0.95 * 0.05 / args.reps):.3f}.\n")
    print(tabulate(records).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("\nCoverage of the method auto chooses, series by series:")
    print(auto_coverage(records).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
