"""evalkit.stats.meta: DerSimonian-Laird random effects, checked by hand and against statsmodels."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy.stats import chi2  # noqa: E402
from statsmodels.stats.meta_analysis import combine_effects  # noqa: E402

from evalkit.errors import AnalysisError  # noqa: E402
from evalkit.stats.meta import GROUP_COLUMNS, SUMMARY_COLUMNS, random_effects  # noqa: E402

# Three localities' log rate ratios and standard errors, chosen so that the textbook formulas come out in fractions.
THREE = pd.DataFrame({"group": ["A", "B", "C"], "estimate": [-0.2, -0.1, -0.4], "std_error": [0.1, 0.2, 0.1]})


def test_three_studies_match_the_dersimonian_laird_formulas_by_hand():
    # DerSimonian & Laird (1986), as in Borenstein et al. (2009) Introduction to Meta-Analysis, ch. 12:
    #   w = 1/se^2 = (100, 25, 100); sum w = 225; sum w y = -20 - 2.5 - 40 = -62.5; sum w y^2 = 4 + 0.25 + 16 = 20.25
    #   Q = sum w y^2 - (sum w y)^2 / sum w = 20.25 - 3906.25/225 = 26/9 = 2.888...; df = 2
    #   C = sum w - sum w^2 / sum w = 225 - 20625/225 = 400/3
    #   tau2 = (Q - df) / C = (8/9) / (400/3) = 1/150 = 0.006667
    #   w* = 1/(se^2 + tau2) = (60, 150/7, 60); sum w* = 990/7; sum w* y = -12 - 15/7 - 24 = -267/7
    #   mu = -267/990 = -0.269697; se(mu) = sqrt(7/990) = 0.084089; I2 = (Q - df)/Q = 8/26 = 0.307692
    #   Q test p = P(chi2_2 > 26/9) = exp(-13/9) = 0.235877 (the chi-square survival with 2 df is exp(-x/2))
    result = random_effects(THREE)
    s = result.summary().iloc[0]
    assert s["q"] == pytest.approx(26 / 9, rel=1e-12)
    assert s["q_df"] == 2
    assert s["tau2"] == pytest.approx(1 / 150, rel=1e-12)
    assert s["estimate"] == pytest.approx(-267 / 990, rel=1e-12)
    assert s["std_error"] == pytest.approx(math.sqrt(7 / 990), rel=1e-12)
    assert s["i2"] == pytest.approx(8 / 26, rel=1e-12)
    assert s["q_p_value"] == pytest.approx(math.exp(-13 / 9), rel=1e-12)
    z = 1.959963984540054  # the 97.5% normal quantile
    assert (s["ci_lower"], s["ci_upper"]) == pytest.approx((-267 / 990 - z * math.sqrt(7 / 990),
                                                           -267 / 990 + z * math.sqrt(7 / 990)), rel=1e-12)
    assert s["ratio"] == pytest.approx(math.exp(-267 / 990), rel=1e-12)  # 0.7636
    assert s["ratio_ci_lower"] == pytest.approx(math.exp(s["ci_lower"]), rel=1e-12)
    assert not s["tau2_truncated"] and s["method"] == "dl" and s["k"] == 3
    groups = result.groups()
    assert list(groups.columns) == list(GROUP_COLUMNS) and list(result.summary().columns) == list(SUMMARY_COLUMNS)
    assert groups["weight"].to_numpy() == pytest.approx(np.array([60, 150 / 7, 60]) / (990 / 7), rel=1e-12)
    assert groups["ratio"].to_numpy() == pytest.approx(np.exp([-0.2, -0.1, -0.4]), rel=1e-12)


def test_numbers_are_statsmodels_combine_effects():
    rng = np.random.default_rng(7)
    data = pd.DataFrame({"group": list("ABCDE"), "estimate": rng.normal(-0.2, 0.3, 5),
                         "std_error": rng.uniform(0.05, 0.2, 5)})
    result = random_effects(data, alpha=0.1)
    reference = combine_effects(data["estimate"].to_numpy(), data["std_error"].to_numpy() ** 2, method_re="dl",
                                alpha=0.1)
    assert reference.tau2 > 0
    s = result.summary().iloc[0]
    frame = reference.summary_frame(alpha=0.1).loc["random effect"]
    assert s["estimate"] == reference.mean_effect_re and s["std_error"] == reference.sd_eff_w_re
    assert (s["ci_lower"], s["ci_upper"]) == (frame["ci_low"], frame["ci_upp"])
    assert s["tau2"] == reference.tau2 and s["i2"] == reference.i2 and s["q"] == reference.q
    assert s["q_p_value"] == reference.test_homogeneity().pvalue == chi2.sf(reference.q, 4)
    assert s["conf_level"] == pytest.approx(0.9)


def test_a_negative_tau2_is_truncated_to_the_fixed_effect_result():
    # Q = 0.0119 < df = 2: DerSimonian-Laird sets tau2 = 0 (metafor and meta do too); statsmodels 0.15 returns
    # tau2 < 0. With tau2 = 0 the random-effects estimate is the inverse-variance (fixed-effect) one.
    data = pd.DataFrame({"group": list("abc"), "estimate": [-0.2, -0.21, -0.19], "std_error": [0.1, 0.14, 0.12]})
    reference = combine_effects(data["estimate"].to_numpy(), data["std_error"].to_numpy() ** 2, method_re="dl")
    assert reference.tau2 < 0  # the statsmodels behaviour this module guards against
    result = random_effects(data)
    s = result.summary().iloc[0]
    w = 1 / data["std_error"].to_numpy() ** 2
    assert s["tau2"] == 0 and s["i2"] == 0 and s["tau2_truncated"]
    assert s["estimate"] == pytest.approx((w * data["estimate"]).sum() / w.sum(), rel=1e-12)
    assert s["std_error"] == pytest.approx(1 / math.sqrt(w.sum()), rel=1e-12)
    assert s["estimate"] == reference.mean_effect_fe and s["q"] == reference.q
    assert result.groups()["weight"].to_numpy() == pytest.approx(w / w.sum(), rel=1e-12)
    assert "tau2 is set to 0" in result.narrative()


def test_identity_scale_has_no_ratio_and_the_caller_data_is_untouched():
    data = THREE.rename(columns={"group": "locality", "estimate": "diff", "std_error": "se"})
    before = data.copy()
    result = random_effects(data, estimate_col="diff", std_error_col="se", group_col="locality", scale="identity")
    pd.testing.assert_frame_equal(data, before)
    assert np.isnan(result.summary()["ratio"].iloc[0]) and result.groups()["ratio"].isna().all()
    assert result.summary()["estimate"].iloc[0] == pytest.approx(-267 / 990)
    assert "ratio" not in result.narrative().split(" CI ")[0]


def test_narrative_plot_and_alt_text():
    result = random_effects(THREE, groups_label="localities")
    text = result.narrative()
    assert text.startswith("Pooled across 3 localities by a DerSimonian-Laird random-effects meta-analysis, the "
                           "estimate is a ratio of 0.764 (95% CI 0.648 to 0.900), a 23.6% decrease.")
    assert "tau2 = 0.00667" in text and "I2 = 31%" in text and "Q = 2.89 on 2 df, p = 0.236" in text
    assert text.endswith(result.assumptions())
    assert "Forest plot of the ratio in 3 localities" in result.alt_text()
    fig, ax = plt.subplots()
    assert result.plot(ax=ax) is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "B", "C", "Pooled"]
    assert ax.get_xscale() == "log"
    plt.close(fig)


@pytest.mark.parametrize("data, options, message", [
    (THREE.iloc[:1], {}, "at least 2 groups; got 1"),
    (THREE.assign(group=["A", "A", "C"]), {}, r"repeated: \['A'\]"),
    (THREE.assign(std_error=[0.1, 0.0, 0.1]), {}, r"groups \['B'\] are not"),
    (THREE.assign(estimate=[0.1, np.nan, 0.1]), {}, r"groups \['B'\] are not"),
    (THREE.drop(columns="std_error"), {}, r"lacks the columns \['std_error'\]"),
    (THREE, {"scale": "probit"}, "scale must be one of log, logit, identity; got 'probit'"),
    (THREE, {"alpha": 5}, "alpha must be between 0 and 1"),
])
def test_bad_input_is_an_analysis_error_naming_it(data, options, message):
    with pytest.raises(AnalysisError, match=message):
        random_effects(data, **options)
