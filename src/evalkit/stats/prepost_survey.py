"""Survey waves: compare the pre and post waves of a safety-culture survey, per item and per domain.

For each item (and each domain, ``by=``) of the processed survey responses
(:mod:`evalkit.data.store`: ``respondent_id``, ``wave`` pre/post, ``item_id``,
``item_domain``, ``response``, ``positive``):

* a rank test on the Likert scores, one score per respondent (the item's
  response, or the respondent's mean over the domain's items):
  Mann-Whitney U between the waves (``paired=False``), or Wilcoxon signed-rank
  on the respondents present in both waves (``paired=True``);
* percent positive per wave with Wilson intervals, and the difference with
  Newcombe's hybrid score interval (all item responses pooled).

Benjamini-Hochberg adjusts the p-values across every row of the call.
"""

from __future__ import annotations

import pandas as pd

from evalkit.config.models import Measure
from evalkit.data.series import WAVE_ORDER
from evalkit.errors import AnalysisError
from evalkit.stats import prepost_methods as pm
from evalkit.stats.prepost_result import ALPHA, PrePostResult, finish_table

SURVEY_NEEDS = ("respondent_id", "wave", "item_id", "item_domain", "response")
BY_CHOICES = ("item", "domain")
PRE, POST = WAVE_ORDER  # ingest's wave codes, in time order

RANK_METHOD = {
    False: "Mann-Whitney U on respondent scores, post vs pre; estimate P(post > pre) + P(tie)/2",
    True: "Wilcoxon signed-rank on respondents in both waves; estimate median paired change",
}
PERCENT_METHOD = "percent positive post - pre, Newcombe hybrid score interval (Wilson per wave); {test}"


def _check(survey: pd.DataFrame, measure_id: str, by: tuple[str, ...], positive_col: str, alpha: float) -> None:
    if not isinstance(survey, pd.DataFrame):
        raise AnalysisError(f"survey must be a DataFrame of survey responses, got {type(survey).__name__}.")
    if not 0 < alpha < 1:
        raise AnalysisError(f"alpha must be between 0 and 1 (0.05 for 95% intervals), got {alpha!r}.")
    bad = [b for b in by if b not in BY_CHOICES]
    if bad or not by:
        raise AnalysisError(f"by={by!r}: choose one or both of {BY_CHOICES}.")
    missing = [c for c in (*SURVEY_NEEDS, positive_col) if c not in survey.columns]
    if missing:
        raise AnalysisError(f"{measure_id}: the survey responses lack the columns {missing}; "
                            "pass the table from evalkit.data.store.load_survey (or name positive_col=).")
    if "locality" in survey.columns and survey["locality"].nunique() > 1:
        raise AnalysisError(f"{measure_id}: the survey holds {survey['locality'].nunique()} localities; "
                            "filter to one locality first (respondent ids are only unique within one).")
    unknown = sorted(set(map(str, survey["wave"].dropna().unique())) - set(WAVE_ORDER))
    if unknown:
        raise AnalysisError(f"{measure_id}: unknown wave code(s) {unknown} in column 'wave'; expected {list(WAVE_ORDER)}. "
                            "Map the file's labels under the survey source's values.wave and re-ingest.")
    for wave in WAVE_ORDER:
        if not (survey["wave"] == wave).any():
            raise AnalysisError(f"{measure_id}: no responses in wave {wave!r}; both waves are needed to compare.")
    if survey["response"].isna().any() or survey[positive_col].isna().any():
        raise AnalysisError(f"{measure_id}: {int(survey['response'].isna().sum())} missing 'response' and "
                            f"{int(survey[positive_col].isna().sum())} missing {positive_col!r} value(s); "
                            "drop unanswered items before comparing.")


def _scores(block: pd.DataFrame) -> pd.DataFrame:
    """One score per respondent and wave: the mean of their responses in ``block``."""
    return block.groupby(["wave", "respondent_id"], sort=True)["response"].mean().unstack("wave")


def _rank_rows(block: pd.DataFrame, paired: bool) -> list[dict]:
    scores = _scores(block)
    pre, post = scores.get(PRE, pd.Series(dtype=float)).dropna(), scores.get(POST, pd.Series(dtype=float)).dropna()
    if paired:
        both = scores.dropna(subset=[PRE, POST]) if {PRE, POST} <= set(scores.columns) else scores.iloc[0:0]
        if both.empty:
            return []
        rows = pm.wilcoxon_signed_rank(both[PRE].to_numpy(float), both[POST].to_numpy(float))
        n_pre = n_post = len(both)
        pre_value, post_value = both[PRE].mean(), both[POST].mean()
    else:
        if pre.empty or post.empty:
            return []
        rows = pm.mann_whitney(pre.to_numpy(float), post.to_numpy(float))
        n_pre, n_post = len(pre), len(post)
        pre_value, post_value = pre.mean(), post.mean()
    return [r | {"n_pre": n_pre, "n_post": n_post, "pre_value": float(pre_value), "post_value": float(post_value),
                 "method": RANK_METHOD[paired]} for r in rows]


def _percent_rows(block: pd.DataFrame, positive_col: str, alpha: float) -> list[dict]:
    counts = []
    for wave in WAVE_ORDER:
        flags = block.loc[block["wave"] == wave, positive_col].astype(bool)
        counts.append((float(flags.sum()), float(len(flags))))
    (x0, n0), (x1, n1) = counts
    if n0 == 0 or n1 == 0:
        return []
    row = pm.proportions(x0, n0, x1, n1, alpha=alpha)[0]
    row = row | {"comparison": "percent_positive_difference",
                 **{k: row[k] * 100 for k in ("estimate", "ci_lower", "ci_upper")}}  # percentage points
    (pl, pu), (ql, qu) = pm.proportion_interval(x0, n0, alpha=alpha), pm.proportion_interval(x1, n1, alpha=alpha)
    test = {"pearson_chi_square": "Pearson chi-square test", "fisher_exact": "Fisher's exact test"}
    return [row | {"n_pre": int(n0), "n_post": int(n1), "pre_value": x0 / n0 * 100, "post_value": x1 / n1 * 100,
                   "pre_ci_lower": pl * 100, "pre_ci_upper": pu * 100, "post_ci_lower": ql * 100,
                   "post_ci_upper": qu * 100,
                   "method": PERCENT_METHOD.format(test=test.get(row["test"], "no test"))}]


def compare_waves(
    survey: pd.DataFrame,
    *,
    measure_id: str,
    measure: Measure | None = None,
    by: tuple[str, ...] = BY_CHOICES,
    paired: bool = False,
    positive_col: str = "positive",
    alpha: float = ALPHA,
) -> PrePostResult:
    """Compare the post survey wave with the pre wave, per item and/or per domain.

    Parameters
    ----------
    survey
        One locality's survey responses (columns of ``survey_responses``),
        already restricted to the measure's items. Not modified.
    measure_id
        The id written in the result's ``measure_id`` column.
    by
        ``("item", "domain")`` (default), or either alone: the units compared.
    paired
        ``False``: Mann-Whitney U between waves. ``True``: Wilcoxon signed-rank
        on respondents present in both waves (per-respondent mean item score).
    positive_col
        The boolean column marking a positive response.
    alpha
        1 - confidence level.

    Returns a :class:`~evalkit.stats.prepost_result.PrePostResult` with, per
    item/domain, a rank-test row and a ``percent_positive_difference`` row
    (``item`` and ``domain`` columns say which). An item with no responses in
    one wave gives no rows.
    """
    by = (by,) if isinstance(by, str) else tuple(by)
    _check(survey, measure_id, by, positive_col, alpha)
    data = survey[["respondent_id", "wave", "item_id", "item_domain", "response", positive_col]]
    units = []
    if "item" in by:
        for (item, domain), block in data.groupby(["item_id", "item_domain"], sort=True):
            units.append(({"item": str(item), "domain": str(domain)}, block))
    if "domain" in by:
        for domain, block in data.groupby("item_domain", sort=True):
            units.append(({"item": None, "domain": str(domain)}, block))
    rows = []
    for labels, block in units:
        for row in _rank_rows(block, paired) + _percent_rows(block, positive_col, alpha):
            rows.append(row | labels | {"measure_id": measure_id})
    if not rows:
        raise AnalysisError(f"{measure_id}: no item or domain has responses in both waves"
                            f"{' from the same respondents' if paired else ''}; nothing to compare.")
    measures = {measure_id: measure} if measure is not None else {}
    return PrePostResult(table=finish_table(rows), alpha=alpha, paired=paired, by=by, measures=measures)


__all__ = ["compare_waves"]
