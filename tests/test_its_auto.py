"""its.auto: the family and error model chosen from the data, the choices table, the sensitivity table."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import AnalysisError
from evalkit.stats.its_auto import CHOICE_COLUMNS, SENSITIVITY_COLUMNS, AutoResult, auto, choose

N_PRE, N_POST = 48, 36
START = pd.Timestamp("2018-01-01")
INTERVENTION = START + pd.DateOffset(months=N_PRE)


def _ar1(rng, n, rho, sd):
    out = np.empty(n)
    out[0] = rng.normal(0, sd)
    for i in range(1, n):
        out[i] = rho * out[i - 1] + rng.normal(0, sd * np.sqrt(1 - rho**2))
    return out


def _frame(rng):
    n = N_PRE + N_POST
    t = np.arange(n)
    post = (t >= N_PRE).astype(float)
    dates = pd.date_range(START, periods=n, freq="MS")
    season = np.sin(2 * np.pi * dates.month.to_numpy() / 12)
    return pd.DataFrame({"period": dates}), t, post, (t - N_PRE) * post, season


def gaussian_series(seed, rho):
    rng = np.random.default_rng(seed)
    frame, t, post, since, season = _frame(rng)
    frame["value"] = 50 + 0.1 * t - 5 * post - 0.2 * since + 3 * season + _ar1(rng, len(t), rho, 2.0)
    return frame


def count_series(seed, latent_sd):
    """Counts over an exposure; latent_sd = 0 gives Poisson counts, > 0 a lognormal AR(1) over-dispersion."""
    rng = np.random.default_rng(seed)
    frame, t, post, since, season = _frame(rng)
    den = rng.integers(800, 1200, len(t)).astype(float)
    eta = np.log(30 / 1000) + 0.002 * t - 0.2 * post - 0.005 * since + 0.1 * season
    frame["events"] = rng.poisson(den * np.exp(eta + _ar1(rng, len(t), 0.4, latent_sd)))
    frame["bed_days"] = den
    return frame


def proportion_series(seed):
    rng = np.random.default_rng(seed)
    frame, t, post, since, season = _frame(rng)
    trials = rng.integers(150, 250, len(t))
    p = 1 / (1 + np.exp(-(-1.0 + 0.004 * t + 0.3 * post + 0.01 * since + 0.1 * season + _ar1(rng, len(t), 0.4, 0.3))))
    frame["harmed"], frame["audited"] = rng.binomial(trials, p), trials.astype(float)
    return frame


GAUSS = dict(value_col="value", date_col="period", intervention=INTERVENTION, kind="mean", seasonality=1)
COUNT = dict(value_col="events", date_col="period", intervention=INTERVENTION, kind="rate",
             denominator_col="bed_days", seasonality=1)
PROP = dict(value_col="harmed", date_col="period", intervention=INTERVENTION, kind="proportion",
            denominator_col="audited", seasonality=1)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --------------------------------------------------------------------------- choices


def test_ar1_gaussian_gets_prais_winsten():
    result = auto(gaussian_series(1, rho=0.6), **GAUSS)
    assert isinstance(result, AutoResult)
    assert (result.family, result.errors) == ("gaussian", "prais_winsten")
    assert result.fit.options["errors"] == "prais_winsten"


def test_white_noise_gaussian_keeps_ar1_errors_with_rho_near_zero():
    family, errors, table = choose(gaussian_series(2, rho=0.0), **GAUSS)
    assert (family, errors) == ("gaussian", "prais_winsten")  # modelled whatever the pretest says ...
    assert "finds none" in table.set_index("step").loc["autocorrelation", "reason"]
    result = auto(gaussian_series(2, rho=0.0), **GAUSS)
    assert abs(result.fit.options["rho"]) < 0.25  # ... and REML puts rho near 0


def test_over_dispersed_counts_get_quasipoisson():
    family, _, table = choose(count_series(3, latent_sd=0.25), **COUNT)
    assert family == "quasipoisson"
    row = table.set_index("step").loc["over_dispersion"]
    assert row["p_value"] < row["threshold"]


def test_autocorrelated_counts_get_ar1_quasi_likelihood_gls():
    family, errors, table = choose(count_series(8, latent_sd=0.25), **COUNT)
    row = table.set_index("step").loc["autocorrelation"]
    assert row["p_value"] < row["threshold"]  # autocorrelation is flagged ...
    assert (family, errors) == ("quasipoisson", "prais_winsten")  # ... and modelled, rho by REML
    assert "rho by REML" in row["reason"]


def test_poisson_counts_pass_the_dispersion_test_and_estimate_a_dispersion_near_one():
    family, errors, table = choose(count_series(4, latent_sd=0.0), **COUNT)
    assert table.set_index("step").loc["over_dispersion", "decision"] == "poisson"
    assert (family, errors) == ("quasipoisson", "prais_winsten")
    result = auto(count_series(4, latent_sd=0.0), **COUNT)
    assert 0.6 < result.fit.fitted.info["dispersion"] < 1.5


def test_over_dispersed_proportion_gets_ar1_quasi_likelihood_gls():
    family, errors, _ = choose(proportion_series(5), **PROP)
    assert (family, errors) == ("binomial", "prais_winsten")


def test_choices_table_has_a_reason_per_step():
    result = auto(count_series(6, latent_sd=0.25), **COUNT)
    choices = result.choices
    assert list(choices.columns) == CHOICE_COLUMNS
    assert list(choices["step"]) == ["family", "over_dispersion", "autocorrelation"]
    assert choices["reason"].str.len().gt(10).all()
    assert choices["decision"].iloc[0] == "poisson"  # the starting family, before the dispersion test


# --------------------------------------------------------------------------- sensitivity


def test_sensitivity_gaussian_one_row_per_alternative():
    result = auto(gaussian_series(7, rho=0.4), **GAUSS)
    table = result.sensitivity()
    assert list(table.columns) == SENSITIVITY_COLUMNS
    assert list(table["errors"]) == ["ols", "newey_west", "prais_winsten", "arma"]
    assert table["chosen"].sum() == 1
    chosen = table[table["chosen"]].iloc[0]
    summary = result.fit.summary().set_index("term")
    assert chosen["level_change"] == pytest.approx(summary.loc["level_change", "estimate"])
    assert chosen["slope_change_ci_upper"] == pytest.approx(summary.loc["slope_change", "ci_upper"])
    assert table["level_change_ratio"].isna().all()  # identity link: no ratios
    assert np.isnan(table.set_index("errors").loc["prais_winsten", "aic"])
    assert np.isfinite(table.set_index("errors").loc["arma", "aic"])


def test_sensitivity_counts_family_by_errors_with_ratios():
    result = auto(count_series(8, latent_sd=0.25), **COUNT)
    table = result.sensitivity()
    assert list(zip(table["family"], table["errors"], strict=True)) == [
        (f, e) for f in ("poisson", "quasipoisson", "negative_binomial") for e in ("ols", "newey_west")] + [
        ("quasipoisson", "prais_winsten")]
    fitted = table[table["note"] == ""]
    assert np.allclose(fitted["level_change_ratio"], np.exp(fitted["level_change"]))
    assert table.set_index("model").loc["quasipoisson / ols", "aic"] != table.set_index("model").loc[
        "quasipoisson / ols", "aic"]  # NaN: no likelihood
    # same point estimates across error models of one family
    poisson = table[table["family"] == "poisson"]
    assert poisson["level_change"].nunique() == 1


def test_narrative_names_choice_and_ends_with_assumptions():
    result = auto(gaussian_series(9, rho=0.5), **GAUSS)
    text = result.narrative()
    assert "gaussian with prais_winsten errors" in text
    assert text.endswith("can leave them too narrow.")
    assert "The estimates assume that nothing else changed" in text  # the chosen model's own assumptions
    assert "Sensitivity:" in text


def test_data_not_modified():
    data = count_series(10, latent_sd=0.2)
    before = data.copy()
    auto(data, **COUNT)
    pd.testing.assert_frame_equal(data, before)


# --------------------------------------------------------------------------- broken inputs


def test_unknown_kind_is_named():
    with pytest.raises(AnalysisError, match="kind='ratio'"):
        auto(gaussian_series(11, rho=0.0), **{**GAUSS, "kind": "ratio"})


@pytest.mark.parametrize("kind", ["rate", "proportion"])
def test_rate_and_proportion_need_a_denominator(kind):
    with pytest.raises(AnalysisError, match="denominator_col"):
        auto(count_series(12, 0.0), **{**COUNT, "kind": kind, "denominator_col": None})


# --------------------------------------------------------------------------- coverage smoke test


@pytest.mark.slow
def test_chosen_method_covers_in_a_small_simulation():
    """40 seeded AR(1) series: the chosen method's 95% intervals must not be broken (loose bound; the full study
    is benchmarks/its_coverage.py)."""
    from evalkit.stats.its import fit

    covered = {"level_change": 0, "slope_change": 0}
    reps = 40
    for seed in range(reps):
        data = gaussian_series(1000 + seed, rho=0.4)
        family, errors, _ = choose(data, **GAUSS)
        options = {k: v for k, v in GAUSS.items() if k != "kind"}
        terms = fit(data, family=family, errors=errors, **options).summary().set_index("term")
        for term, truth in (("level_change", -5.0), ("slope_change", -0.2)):
            covered[term] += terms.loc[term, "ci_lower"] <= truth <= terms.loc[term, "ci_upper"]
    assert covered["level_change"] / reps > 0.75
    assert covered["slope_change"] / reps > 0.75


def test_controlled_its_uses_the_difference_and_drops_arma():
    treated = gaussian_series(13, rho=0.4).assign(site="A")
    comparator = gaussian_series(14, rho=0.4).assign(site="B")
    data = pd.concat([treated, comparator], ignore_index=True)
    result = auto(data, **GAUSS, group_col="site", treated="A")
    table = result.sensitivity()
    assert "arma" not in set(table["errors"])  # its.fit fits ARMA errors to one series only
    chosen = table[table["chosen"]].iloc[0]
    summary = result.fit.summary()
    difference = summary[(summary["group"] == "difference") & (summary["term"] == "level_change")].iloc[0]
    assert chosen["level_change"] == pytest.approx(difference["estimate"])
