"""Simulate the demo programme's canonical tidy data (no file I/O).

:func:`simulate_data` (public as :func:`evalkit.data.demo.simulate`) turns the
configuration, the plan of who reports where, the designed effects and a seed
into one :class:`DemoData`: the monthly observations each organisation reports,
the incident records those counts come from, and the respondent-level survey.
The raw extracts written by :mod:`evalkit.data.demo_write` are renderings of it.

Every series (organisation x month) is simulated on its link scale (log for
counts, rates and means; logit for proportions)::

    eta_t = link(baseline) + org offset + trend * t + season * cos(2 pi (month - 1) / 12)
            + u_t + post_t * (level_change + slope_change * (t - t_intervention))

with ``u_t`` an AR(1) process, then drawn with over-dispersion: gamma-Poisson
counts, beta-binomial proportions, gamma totals for means. The effect starts in
the intervention month of the pack of the measure's first stream and is the same
for every organisation of the locality, so the locality's aggregate carries the
same multiplicative effect.

Randomness comes from ``numpy.random.Generator(PCG64)`` streams seeded with the
seed and a SHA-256 of the stream's name (kind, locality, organisation, measure),
so one series does not change when another measure is added to programme.yml.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from evalkit.config.load import ProjectConfig
from evalkit.data.store import OBSERVATION_COLUMNS
from evalkit.errors import ConfigError

if TYPE_CHECKING:
    from evalkit.data.demo import DemoPlan

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- design
# Magnitudes are set to the order of published NHS England figures for acute and
# community trusts and care homes (NRLS reporting rates, NHS Digital workforce
# statistics, Making Data Count examples); they are illustrative, not estimates.


@dataclass(frozen=True)
class Profile:
    """How one measure behaves before any intervention, per organisation and month.

    ``base``: setting -> level (per ``per`` units for rates, a share for proportions,
    hours for means, events for counts); ``trend`` per month and ``season``
    (amplitude, January peak) on the link scale; ``rho``/``sigma``: AR(1) coefficient
    and innovation sd of the noise the locality's organisations share (each organisation adds
    its own, :data:`ORG_NOISE` times smaller); ``dispersion``: gamma shape (counts), beta precision
    (proportions) or per-case gamma shape (means); ``volume``: setting -> size of the
    measure's denominator per month when it sets its denominator column; ``stock``:
    the denominator is a headcount, not a monthly flow.
    """

    base: dict[str, float]
    trend: float = 0.0
    season: float = 0.0
    rho: float = 0.6
    sigma: float = 0.05
    dispersion: float = 50.0
    volume: dict[str, float] = field(default_factory=dict)
    stock: bool = False

    def at(self, table: dict[str, float], setting: str) -> float:
        return table.get(setting, table.get("default", next(iter(table.values()))))


def _p(base, **kw) -> Profile:
    return Profile(base=base, **kw)


PROFILES: dict[str, Profile] = {
    # incident-based rates per 1,000 occupied bed (or resident) days; NRLS acute ~40 reports
    "incident_reporting_rate": _p({"acute": 35, "community": 32, "care_home": 26}, season=0.05, sigma=0.07,
                                  dispersion=100),
    "falls_with_harm": _p({"acute": 1.8, "community": 1.5, "care_home": 2.6}, trend=-0.0005, season=0.08,
                          sigma=0.12, dispersion=60),
    "pressure_ulcers": _p({"acute": 0.35, "community": 0.6, "care_home": 0.5}, season=0.06, sigma=0.12, dispersion=60),
    "medication_incidents_harm": _p({"acute": 1.0, "community": 0.7, "care_home": 0.6}, season=0.03, sigma=0.12,
                                    dispersion=60),
    "no_harm_incident_proportion": _p({"acute": 0.72, "community": 0.70, "care_home": 0.62}, sigma=0.06,
                                      dispersion=300),
    "emergency_admissions_care_homes": _p({"default": 2.6}, season=0.12, sigma=0.10, dispersion=60),
    "delayed_transfer_days": _p({"acute": 40, "community": 60}, season=0.10, sigma=0.10, dispersion=40),
    # proportions: base share, volume = denominator per month
    "readmissions_30d": _p({"acute": 0.09, "community": 0.07}, season=0.05, sigma=0.05, dispersion=500,
                           volume={"acute": 3200, "community": 110}),
    "discharge_summaries_24h": _p({"acute": 0.68, "community": 0.64}, trend=0.002, sigma=0.10, dispersion=200,
                                  volume={"acute": 3200, "community": 110}),
    "med_rec_24h": _p({"acute": 0.62, "community": 0.58}, trend=0.001, sigma=0.10, dispersion=150,
                      volume={"acute": 2800, "community": 100}),
    "observations_on_time": _p({"acute": 0.80, "community": 0.78}, sigma=0.08, dispersion=150,
                               volume={"acute": 400, "community": 120}),
    "structured_handover": _p({"acute": 0.55, "community": 0.50}, sigma=0.12, dispersion=60,
                              volume={"acute": 40, "community": 20}),
    "staffing_fill_rate": _p({"acute": 0.94, "community": 0.93, "care_home": 0.92}, season=-0.05, sigma=0.05,
                             dispersion=2000, volume={"acute": 12000, "community": 2500, "care_home": 3000}),
    "safety_huddles_held": _p({"default": 0.50}, sigma=0.10, dispersion=80,
                              volume={"acute": 600, "community": 90, "care_home": 120}),
    "staff_turnover": _p({"acute": 0.012, "community": 0.011, "care_home": 0.022}, season=0.03, sigma=0.06,
                         dispersion=1000, volume={"acute": 4500, "community": 900, "care_home": 350}, stock=True),
    "sickness_absence": _p({"acute": 0.045, "community": 0.048, "care_home": 0.050}, season=0.12, sigma=0.05,
                           dispersion=3000, volume={"acute": 80000, "community": 16000, "care_home": 6000}),
    "training_completion": _p({"acute": 0.80, "community": 0.82, "care_home": 0.75}, trend=0.002, sigma=0.05,
                              dispersion=400, volume={"acute": 4000, "community": 800, "care_home": 320}, stock=True),
    "actions_closed_on_time": _p({"default": 0.60}, sigma=0.10, dispersion=60,
                                 volume={"acute": 45, "community": 15, "care_home": 12}),
    # a mean: hours per reconciliation, volume = reconciliations completed
    "mean_hours_to_med_rec": _p({"acute": 25, "community": 28}, season=0.04, sigma=0.06, dispersion=1.2,
                                volume={"acute": 2600, "community": 95}),
    # a count per month
    "learning_events": _p({"acute": 6, "community": 3, "care_home": 2}, sigma=0.12, dispersion=40),
}
"""Series profile of every demo measure (a measure not listed gets :data:`DEFAULT_PROFILES` of its kind)."""

DEFAULT_PROFILES = {
    "rate": _p({"default": 5.0}), "count": _p({"default": 5.0}),
    "proportion": _p({"default": 0.6}, dispersion=200, volume={"default": 200}),
    "mean": _p({"default": 10.0}, dispersion=1.5, volume={"default": 100}),
}
VOLUME_BEDS = {"acute": 9000, "community": 1900, "care_home": 3600}
"""Occupied bed (resident) days per month: acute 6,000-12,000, care-home groups 2,500-5,000."""
VOLUME_SEASON, VOLUME_TREND, VOLUME_RHO, VOLUME_SIGMA = 0.03, 0.0008, 0.6, 0.025
ORG_SPREAD = 0.12  # sd of an organisation's offset from its setting's baseline, link scale
ORG_NOISE = 0.5  # an organisation's own AR(1) noise, relative to the noise its locality shares
VOLUME_SPREAD = (0.80, 1.25)  # range of an organisation's size relative to its setting's typical size
DAYS_PER_MONTH = 365.25 / 12

# --------------------------------------------------------------------------- primitives


def child_rng(seed: int, *names: str) -> np.random.Generator:
    """An independent generator for one named stream (stable across runs and Python versions)."""
    digest = hashlib.sha256("\x1f".join(names).encode("utf-8")).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *words])))


def ar1(rng: np.random.Generator, n: int, rho: float, sigma: float) -> np.ndarray:
    """A stationary AR(1) series of length ``n``."""
    eps = rng.normal(0.0, sigma, n)
    out = np.empty(n)
    out[0] = eps[0] / np.sqrt(1.0 - rho**2)
    for t in range(1, n):
        out[t] = rho * out[t - 1] + eps[t]
    return out


def gamma_poisson(rng: np.random.Generator, mu: np.ndarray, shape: float) -> np.ndarray:
    """Negative binomial counts with mean ``mu`` and variance ``mu + mu**2 / shape``."""
    return rng.poisson(mu * rng.gamma(shape, 1.0 / shape, len(mu))).astype(np.int64)


def beta_binomial(rng: np.random.Generator, n: np.ndarray, p: np.ndarray, precision: float) -> np.ndarray:
    """Beta-binomial counts out of ``n`` with mean share ``p`` and beta precision ``precision``."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return rng.binomial(n, rng.beta(p * precision, (1 - p) * precision)).astype(np.int64)


class Clock:
    """The programme's months and the calendar terms every series shares: month number ``t``,
    ``winter`` (the annual cycle, 1 in January, -1 in July) and ``days`` in each month."""

    def __init__(self, months: pd.DatetimeIndex):
        self.months, self.t = months, np.arange(len(months), dtype=float)
        self.winter = np.cos(2 * np.pi * (months.month.to_numpy() - 1) / 12)
        self.days = months.days_in_month.to_numpy().astype(float)

    def index(self, month: pd.Timestamp) -> int:
        return int((month.year - self.months[0].year) * 12 + month.month - self.months[0].month)


def _effects(truth: pd.DataFrame, clock: Clock) -> dict[tuple[str, str], np.ndarray]:
    """(locality, measure) -> the designed effect in every month, link scale (zero before the intervention)."""
    out = {}
    for row in truth.itertuples(index=False):
        since = clock.t - (clock.index(pd.Timestamp(row.intervention)) if row.intervention else np.inf)
        out[(row.locality, row.measure_id)] = np.where(since >= 0, row.level_change + row.slope_change * since, 0.0)
    return out


def _locality_terms(seed: int, effects: dict, clock: Clock, prof: Profile, loc: str, m_id: str) -> np.ndarray:
    """What every organisation of the locality shares, link scale: AR(1) noise plus the designed effect."""
    noise = ar1(child_rng(seed, "locality-noise", loc, m_id), len(clock.t), prof.rho, prof.sigma)
    return noise + effects.get((loc, m_id), 0.0)


def _stack(parts: list[dict]) -> pd.DataFrame:
    """One frame from many dicts of equal-length columns (scalars repeat): far cheaper than many small frames."""
    lengths = [max(np.size(v) for v in part.values()) for part in parts]
    return pd.DataFrame({key: np.concatenate([np.full(n, part[key], dtype=object) if np.ndim(part[key]) == 0
                                              else np.asarray(part[key]) for part, n in zip(parts, lengths)])
                         for key in parts[0]})


# --------------------------------------------------------------------------- monthly series


def _profile(config: ProjectConfig, m_id: str) -> Profile:
    return PROFILES.get(m_id) or DEFAULT_PROFILES[config.programme.measures[m_id].kind]


def _link_eta(rng, clock: Clock, prof: Profile, setting: str, kind: str, shared: np.ndarray) -> np.ndarray:
    base = prof.at(prof.base, setting)
    start = logit(base) if kind == "proportion" else np.log(base)
    return (start + rng.normal(0.0, ORG_SPREAD) + prof.trend * clock.t + prof.season * clock.winter
            + ar1(rng, len(clock.t), prof.rho, prof.sigma * ORG_NOISE) + shared)


def _volume(rng, clock: Clock, size: float, stock: bool) -> np.ndarray:
    size *= rng.uniform(*VOLUME_SPREAD)
    if stock:
        drift = VOLUME_TREND * clock.t + ar1(rng, len(clock.t), 0.9, VOLUME_SIGMA / 3)
        return np.maximum(np.round(size * np.exp(drift)), 1)
    noise = ar1(rng, len(clock.t), VOLUME_RHO, VOLUME_SIGMA)
    scale = clock.days / DAYS_PER_MONTH * np.exp(VOLUME_TREND * clock.t + VOLUME_SEASON * clock.winter + noise)
    return np.maximum(np.round(size * scale), 1)


def _draw(rng, kind: str, prof: Profile, eta: np.ndarray, denom: np.ndarray | None, per: float | None):
    """Numerator for one organisation's months."""
    if kind == "proportion":
        return beta_binomial(rng, denom.astype(np.int64), expit(eta), prof.dispersion).astype(float)
    if kind == "mean":
        total = rng.gamma(np.maximum(denom, 1) * prof.dispersion, np.exp(eta) / prof.dispersion)
        return np.round(np.where(denom > 0, total, 0.0), 1)
    mu = np.exp(eta) * (denom / per if kind == "rate" else 1.0)
    return gamma_poisson(rng, mu, prof.dispersion).astype(float)


def _exposures(config: ProjectConfig, plan: DemoPlan, seed: int, clock: Clock) -> pd.DataFrame:
    frames = []
    for (code, exposure), src in sorted(plan.exposure_source.items()):
        org = plan.orgs[code]
        rng = child_rng(seed, "exposure", org.locality, code, exposure)
        size = VOLUME_BEDS.get(org.setting, 1000) if exposure == "bed_days" else 1000
        frames.append({"locality": org.locality, "organisation": code, "setting": org.setting,
                       "exposure": exposure, "period": clock.months.to_numpy(),
                       "value": _volume(rng, clock, size, stock=False), "source": src})
    return _stack(frames)


def _monthly(config: ProjectConfig, plan: DemoPlan, seed: int, clock: Clock, effects, exposures) -> pd.DataFrame:
    """Observations of the monthly (non-incident) sources: shared denominator columns share one series."""
    prog = config.programme
    expo = {(c, e): g["value"].to_numpy() for (c, e), g in exposures.groupby(["organisation", "exposure"])}
    frames = []
    for src_id, codes in plan.monthly_orgs.items():
        source = prog.sources[src_id]
        exposure_of = {col: e for e, col in source.exposures.items()}
        for code in codes:
            org = plan.orgs[code]
            columns: dict[str, np.ndarray] = {}
            for m_id, spec in source.measures.items():
                if plan.measure_source.get((code, m_id)) != src_id:
                    continue
                measure, prof = prog.measures[m_id], _profile(config, m_id)
                denom = None
                if spec.denominator in exposure_of:
                    denom = expo[(code, exposure_of[spec.denominator])]
                elif spec.denominator:
                    if spec.denominator not in columns:
                        vol_rng = child_rng(seed, "volume", org.locality, code, src_id, spec.denominator)
                        columns[spec.denominator] = _volume(vol_rng, clock, prof.at(prof.volume or {"default": 200},
                                                                                    org.setting), prof.stock)
                    denom = columns[spec.denominator]
                rng = child_rng(seed, "monthly", org.locality, code, m_id)
                shared = _locality_terms(seed, effects, clock, prof, org.locality, m_id)
                eta = _link_eta(rng, clock, prof, org.setting, measure.kind, shared)
                frames.append({
                    "locality": org.locality, "organisation": code, "setting": org.setting, "measure_id": m_id,
                    "period": clock.months.to_numpy(),
                    "numerator": _draw(rng, measure.kind, prof, eta, denom, measure.per),
                    "denominator": denom if denom is not None else np.full(len(clock.t), np.nan), "source": src_id})
    return _stack(frames) if frames else pd.DataFrame(columns=list(OBSERVATION_COLUMNS))


# --------------------------------------------------------------------------- incidents

CATEGORY_WEIGHTS = {"falls": 0.22, "pressure_ulcer": 0.08, "medication": 0.18, "infection": 0.07,
                    "treatment": 0.22, "other": 0.23}  # share of reports by category; others get 0.1
HARM_WEIGHTS = {"low": 0.82, "moderate": 0.14, "severe": 0.03, "death": 0.01}  # share of harmed reports
NO_HARM = "none"


def _cells(where: dict, categories: list[str], harms: list[str], setting: str) -> set[tuple[str, str]]:
    if "setting" in where and setting not in where["setting"]:
        return set()
    return {(c, h) for c in categories for h in harms
            if c in where.get("category", categories) and h in where.get("harm", harms)}


def _incident_roles(src_id: str, source) -> tuple[str, str | None, list[str]]:
    """(the measure counting every incident, the share-of-it measure or None, the targeted measures)."""
    totals = [m for m, s in source.measures.items() if not s.where and not s.of]
    shares = [m for m, s in source.measures.items() if s.of]
    if len(totals) != 1 or len(shares) > 1 or any(source.measures[m].of != totals[0] for m in shares):
        raise ConfigError(
            f"programme.yml sources.{src_id}.measures: the demo generator needs exactly one measure counting "
            f"every incident (no `where`) and at most one proportion `of` it; found {totals} and {shares}.")
    return totals[0], (shares[0] if shares else None), [m for m in source.measures if m not in totals + shares]


def _incidents(config: ProjectConfig, plan: DemoPlan, seed: int, clock: Clock, effects, exposures):
    prog, n = config.programme, len(clock.months)
    expo = {(c, e): g["value"].to_numpy() for (c, e), g in exposures.groupby(["organisation", "exposure"])}
    rows, obs, clipped = [], [], 0
    for loc, src_id in plan.incident_source.items():
        source = prog.sources[src_id]
        categories, harms = list(plan.codes[src_id]["category"]), list(plan.codes[src_id]["harm"])
        total_id, share_id, targeted = _incident_roles(src_id, source)
        for code in plan.localities[loc]:
            org = plan.orgs[code]
            cells = {m: _cells(source.measures[m].where, categories, harms, org.setting) for m in source.measures}
            share_cells = cells[share_id] if share_id else {c for c in cells[total_id] if c[1] == NO_HARM}
            taken = [cells[m] for m in targeted] + [share_cells]
            if sum(map(len, taken)) != len(set().union(*taken)):
                raise ConfigError(f"programme.yml sources.{src_id}.measures: the demo generator needs the "
                                  f"incident measures {targeted + [share_id]} to count disjoint category/harm cells.")
            rest = cells[total_id] - set().union(*taken)
            grid = sorted(cells[total_id])
            counts = np.zeros((n, len(grid)), dtype=np.int64)
            rng = child_rng(seed, "incidents", loc, code)

            def draw(m_id: str) -> np.ndarray:
                spec, measure, prof = source.measures[m_id], prog.measures[m_id], _profile(config, m_id)
                shared = _locality_terms(seed, effects, clock, prof, loc, m_id)
                eta = _link_eta(rng, clock, prof, org.setting, measure.kind, shared)
                mu = np.exp(eta) * (expo[(code, spec.denominator)] / measure.per if spec.denominator else 1.0)
                return gamma_poisson(rng, mu, prof.dispersion)

            total = draw(total_id)
            harmed = {m: draw(m) for m in targeted if cells[m]}
            if share_id:
                prof = _profile(config, share_id)
                shared = _locality_terms(seed, effects, clock, prof, loc, share_id)
                eta = _link_eta(rng, clock, prof, org.setting, "proportion", shared)
                none = beta_binomial(rng, total, expit(eta), prof.dispersion)
            else:
                none = rng.binomial(total, PROFILES["no_harm_incident_proportion"].base["acute"])
            need = sum(harmed.values(), np.zeros(n, dtype=np.int64))
            short = need > total - none
            clipped += int(short.sum())
            none = np.where(short, np.maximum(total - need, 0), none)
            total = np.maximum(total, need)
            pools = [*((cells[m], harmed[m]) for m in harmed), (share_cells, none), (rest, total - none - need)]
            for group, k in pools:
                if not group:
                    continue
                ordered = sorted(group)
                w = np.array([CATEGORY_WEIGHTS.get(c, 0.1) * (1.0 if h == NO_HARM else HARM_WEIGHTS.get(h, 0.02))
                              for c, h in ordered])
                counts[:, [grid.index(c) for c in ordered]] += rng.multinomial(k, w / w.sum())
            month_i, cell_i = np.nonzero(counts)
            reps = counts[month_i, cell_i]
            month_i, cell_i = np.repeat(month_i, reps), np.repeat(cell_i, reps)
            day = np.floor(rng.random(len(month_i)) * clock.days[month_i]).astype("timedelta64[D]")
            rows.append({
                "date": clock.months.to_numpy()[month_i].astype("datetime64[D]") + day, "organisation": code,
                "locality": loc, "setting": org.setting,
                "category": np.array([g[0] for g in grid], dtype=object)[cell_i],
                "harm": np.array([g[1] for g in grid], dtype=object)[cell_i], "source": src_id})
            for m_id, spec in source.measures.items():
                num = counts[:, [grid.index(c) for c in sorted(cells[m_id])]].sum(axis=1).astype(float)
                den = (expo[(code, spec.denominator)] if spec.denominator
                       else counts[:, [grid.index(c) for c in sorted(cells[spec.of])]].sum(axis=1) if spec.of else None)
                obs.append({"locality": loc, "organisation": code, "setting": org.setting, "measure_id": m_id,
                            "period": clock.months.to_numpy(), "numerator": num, "source": src_id,
                            "denominator": np.full(n, np.nan) if den is None else den.astype(float)})
    incidents = _stack(rows).sort_values(
        ["locality", "date", "organisation", "category", "harm"], kind="stable", ignore_index=True)
    seq = incidents.groupby("locality", sort=False).cumcount() + 1
    incidents.insert(0, "record_id", incidents["locality"].map(plan.record_prefix) + seq.map("{:06d}".format))
    return incidents, _stack(obs), clipped


# --------------------------------------------------------------------------- survey

STAFF_GROUPS = {
    "acute": {"Nursing and midwifery": 0.40, "Medical and dental": 0.15, "Allied health professionals": 0.15,
              "Healthcare support workers": 0.20, "Administrative and clerical": 0.10},
    "community": {"Nursing and midwifery": 0.45, "Allied health professionals": 0.25,
                  "Healthcare support workers": 0.20, "Administrative and clerical": 0.10},
    "care_home": {"Care workers": 0.65, "Nursing and midwifery": 0.15, "Managers": 0.08, "Ancillary staff": 0.12},
}
RESPONDENTS = (60, 120)  # respondents per organisation and wave (inclusive range)
PAIRED_SHARE = 0.30  # share of Follow-up respondents who also answered at Baseline (same respondent_id)
BASELINE_LEAD, FOLLOW_UP_LAG = 2, 18  # months before / after the stream's start that each wave is fielded
CULTURE_MEAN, CULTURE_SD, ITEM_SD, RESPONDENT_SD = 0.35, 0.25, 0.35, 0.8  # latent culture, log-odds scale
CUT_BELOW, CUT_ABOVE = 1.2, 1.8  # spacing of the cumulative-logit cut points below / above `positive_from`


def _survey(config: ProjectConfig, plan: DemoPlan, seed: int, clock: Clock, truth) -> pd.DataFrame:
    prog, frames = config.programme, []
    first, last = clock.months[0], clock.months[-1]
    for src_id, source in prog.sources.items():
        if source.layout != "survey" or not source.measures:
            continue
        m_id = next(iter(source.measures))
        lo, hi, pf = source.scale[0], source.scale[1], source.positive_from
        cuts = np.array([CUT_BELOW * (k - pf) if k < pf else CUT_ABOVE * (k - pf) for k in range(lo + 1, hi + 1)])
        items = list(source.items)
        item_eff = child_rng(seed, "survey-items", src_id).normal(0.0, ITEM_SD, len(items))
        reverse = np.array([source.items[i].reverse for i in items])
        for loc, codes in plan.localities.items():
            row = truth[(truth["locality"] == loc) & (truth["measure_id"] == m_id)].iloc[0]
            if not row["intervention"]:
                log.info("demo: no %s pack for %s, so no survey waves there", row["stream"], loc)
                continue
            start = pd.Timestamp(row["intervention"])
            waves = {"pre": max(first, start - pd.DateOffset(months=BASELINE_LEAD)),
                     "post": min(last, start + pd.DateOffset(months=FOLLOW_UP_LAG))}
            for code in codes:
                rng = child_rng(seed, "survey", src_id, loc, code)
                groups = STAFF_GROUPS.get(plan.orgs[code].setting, STAFF_GROUPS["community"])
                n_pre, n_post = rng.integers(RESPONDENTS[0], RESPONDENTS[1] + 1, 2)
                n_pair = min(int(round(PAIRED_SHARE * n_post)), n_pre)
                pre_ids = np.arange(1, n_pre + 1)
                ids = np.concatenate([pre_ids, np.sort(rng.choice(pre_ids, n_pair, replace=False)),
                                      np.arange(n_pre + 1, n_pre + 1 + n_post - n_pair)])
                person = rng.normal(0.0, RESPONDENT_SD, n_pre + n_post)
                group = rng.choice(list(groups), n_pre + n_post, p=list(groups.values()))
                again = ids[n_pre:n_pre + n_pair] - 1  # answered at Baseline too: same person, same group
                person[n_pre:n_pre + n_pair], group[n_pre:n_pre + n_pair] = person[again], group[again]
                post = np.arange(n_pre + n_post) >= n_pre
                theta = (rng.normal(CULTURE_MEAN, CULTURE_SD) + person + row["level_change"] * post)[:, None] + item_eff
                above = (rng.random(theta.shape)[..., None] < expit(theta[..., None] - cuts)).sum(axis=2)
                answers = np.where(reverse, hi - above, lo + above)
                month = np.where(post, waves["post"], waves["pre"]).astype("datetime64[D]")
                days = np.where(post, waves["post"].days_in_month, waves["pre"].days_in_month)
                frame = pd.DataFrame({
                    "respondent_id": [f"{code}-{i:04d}" for i in ids], "wave": np.where(post, "post", "pre"),
                    "date": month + np.floor(rng.random(len(ids)) * days).astype("timedelta64[D]"),
                    "organisation": code, "locality": loc, "staff_group": group})
                frame[items] = answers
                frame["source"] = src_id
                frames.append(frame)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class DemoData:
    """The canonical synthetic data: what every raw extract is a rendering of.

    ``observations``: exactly the columns of the processed table
    (:data:`evalkit.data.store.OBSERVATION_COLUMNS`), one row per organisation,
    measure and month, incident-based measures included; what a perfect ingest of
    the defect-free extracts returns. ``exposures``: locality, organisation,
    setting, exposure, period, value, source (e.g. occupied bed days).
    ``incidents``: record_id, date, organisation, locality, setting, category,
    harm (evalkit codes), source. ``survey``: respondent_id, wave
    (``pre``/``post``), date, organisation, locality, staff_group, one column per
    item, source. ``truth``: one row per locality and measure (see
    :func:`evalkit.data.demo.generate`). ``clipped_cells``: organisation-months in
    which the harmed incidents drawn for the targeted measures exceeded the
    harmed total and the no-harm count was reduced to fit (expected to be rare).
    """

    seed: int
    observations: pd.DataFrame
    exposures: pd.DataFrame
    incidents: pd.DataFrame
    survey: pd.DataFrame
    truth: pd.DataFrame
    clipped_cells: int = 0


def simulate_data(config: ProjectConfig, plan: DemoPlan, truth: pd.DataFrame, *, seed: int) -> DemoData:
    """Simulate the demo programme from ``seed`` with the designed effects in ``truth`` (no file I/O)."""
    clock = Clock(pd.date_range(pd.Timestamp(config.programme.programme.period.start),
                                pd.Timestamp(config.programme.programme.period.end), freq="MS"))
    exposures = _exposures(config, plan, seed, clock)
    effects = _effects(truth, clock)
    monthly = _monthly(config, plan, seed, clock, effects, exposures)
    incidents, incident_obs, clipped = _incidents(config, plan, seed, clock, effects, exposures)
    survey = _survey(config, plan, seed, clock, truth)
    observations = pd.concat([monthly, incident_obs], ignore_index=True)
    observations = observations.sort_values(["locality", "organisation", "measure_id", "period"], kind="stable")
    observations = observations[list(OBSERVATION_COLUMNS)].reset_index(drop=True)
    observations["period"] = observations["period"].astype("datetime64[ms]")
    exposures["period"] = exposures["period"].astype("datetime64[ms]")
    incidents["date"] = incidents["date"].astype("datetime64[ms]")
    if clipped:
        log.info("demo: %d organisation-months had their no-harm incidents reduced to fit the harmed ones", clipped)
    return DemoData(seed=seed, observations=observations, exposures=exposures, incidents=incidents,
                    survey=survey, truth=truth, clipped_cells=clipped)
