"""Census-income-like rows with two planted labels sharing drivers (multi-task)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from ._common import (
    calibrate_intercept,
    check_rows,
    draw_categorical,
    model_rng,
    sigmoid,
    string_column,
)
from .dataset import SyntheticDataset

# The names DeepCTR's MMOE example gives the 42 fields after the leading record id.
CENSUS_COLUMNS = (
    "age", "class_worker", "det_ind_code", "det_occ_code", "education", "wage_per_hour",
    "hs_college", "marital_stat", "major_ind_code", "major_occ_code", "race", "hisp_origin",
    "sex", "union_member", "unemp_reason", "full_or_part_emp", "capital_gains",
    "capital_losses", "stock_dividends", "tax_filer_stat", "region_prev_res", "state_prev_res",
    "det_hh_fam_stat", "det_hh_summ", "instance_weight", "mig_chg_msa", "mig_chg_reg",
    "mig_move_reg", "mig_same", "mig_prev_sunbelt", "num_emp", "fam_under_18",
    "country_father", "country_mother", "country_self", "citizenship", "own_or_self",
    "vet_question", "vet_benefits", "weeks_worked", "year", "income_50k",
)
CENSUS_SPARSE_FEATURES = (
    "class_worker", "det_ind_code", "det_occ_code", "education", "hs_college",
    "major_ind_code", "major_occ_code", "race", "hisp_origin", "sex", "union_member",
    "unemp_reason", "full_or_part_emp", "tax_filer_stat", "region_prev_res", "state_prev_res",
    "det_hh_fam_stat", "det_hh_summ", "mig_chg_msa", "mig_chg_reg", "mig_move_reg",
    "mig_same", "mig_prev_sunbelt", "fam_under_18", "country_father", "country_mother",
    "country_self", "citizenship", "vet_question",
)
CENSUS_LABELS = ("label_income", "label_marital")
CENSUS_NUMERIC_COLUMNS = (
    "age", "det_ind_code", "det_occ_code", "wage_per_hour", "capital_gains", "capital_losses",
    "stock_dividends", "instance_weight", "num_emp", "own_or_self", "vet_benefits",
    "weeks_worked", "year",
)
CENSUS_STRING_COLUMNS = tuple(c for c in CENSUS_COLUMNS if c not in CENSUS_NUMERIC_COLUMNS)
CENSUS_DENSE_FEATURES = tuple(
    c for c in CENSUS_COLUMNS if c not in CENSUS_SPARSE_FEATURES and c not in ("marital_stat", "income_50k")
)
CENSUS_HIGH_INCOME, CENSUS_LOW_INCOME = "50000+.", "- 50000."
CENSUS_NEVER_MARRIED = "Never married"

NIU = "Not in universe"
_EDUCATION = (
    "Children", "Less than 1st grade", "1st 2nd 3rd or 4th grade", "5th or 6th grade",
    "7th and 8th grade", "9th grade", "10th grade", "11th grade", "12th grade no diploma",
    "High school graduate", "Some college but no degree", "Associates degree-occup /vocational",
    "Associates degree-academic program", "Bachelors degree(BA AB BS)",
    "Masters degree(MA MS MEng MEd MSW MBA)", "Prof school degree (MD DDS DVM LLB JD)",
    "Doctorate degree(PhD EdD)",
)
# Adults' education shares (levels 1.. of _EDUCATION) and each level's income effect.
_EDUCATION_SHARES = (0.005, 0.01, 0.02, 0.05, 0.03, 0.035, 0.04, 0.015, 0.33, 0.19, 0.03, 0.03, 0.14, 0.045, 0.012, 0.008)
_EDUCATION_INCOME = (-1.5, -1.5, -1.3, -1.1, -1.0, -1.0, -0.9, -0.8, 0.0, 0.3, 0.4, 0.5, 1.2, 1.7, 2.3, 2.2)
_CLASS_WORKER = (
    NIU, "Private", "Self-employed-not incorporated", "Local government", "State government",
    "Self-employed-incorporated", "Federal government", "Without pay", "Never worked",
)
_CLASS_SHARES = (0.0, 0.72, 0.08, 0.08, 0.04, 0.04, 0.03, 0.01)
_CLASS_INCOME = (0.0, 0.0, 0.1, 0.1, 0.1, 0.9, 0.4, -1.0)
_MAJOR_INDUSTRY = (
    "Not in universe or children", "Retail trade", "Manufacturing-durable goods", "Education",
    "Manufacturing-nondurable goods", "Finance insurance and real estate", "Construction",
    "Business and repair services", "Medical except hospital", "Public administration",
    "Other professional services", "Transportation", "Hospital services", "Wholesale trade",
    "Agriculture", "Personal services except private HH", "Social services", "Entertainment",
    "Communications", "Utilities and sanitary services", "Private household services", "Mining",
    "Forestry and fisheries", "Armed Forces",
)
_MAJOR_OCCUPATION = (
    NIU, "Adm support including clerical", "Professional specialty",
    "Executive admin and managerial", "Other service", "Sales",
    "Precision production craft & repair", "Machine operators assmblrs & inspctrs",
    "Handlers equip cleaners etc ", "Transportation and material moving",
    "Farming forestry and fishing", "Technicians and related support", "Protective services",
    "Private household services", "Armed Forces",
)
_OCCUPATION_INCOME = (0.0, -0.3, 0.8, 1.0, -0.7, 0.2, 0.2, -0.3, -0.6, -0.2, -0.6, 0.3, 0.2, -1.0, 0.0)
_RACE = ("White", "Black", "Asian or Pacific Islander", "Amer Indian Aleut or Eskimo", "Other")
_HISPANIC = (
    "All other", "Mexican-American", "Mexican (Mexicano)", "Central or South American",
    "Puerto Rican", "Other Spanish", "Cuban", "NA", "Do not know", "Chicano",
)
_FULL_OR_PART = (
    "Children or Armed Forces", "Full-time schedules", "Not in labor force",
    "PT for non-econ reasons usually FT", "Unemployed full-time", "PT for econ reasons usually PT",
    "Unemployed part- time", "PT for econ reasons usually FT",
)
_UNEMPLOYMENT = (NIU, "Other job loser", "Re-entrant", "Job loser - on layoff", "Job leaver", "New entrant")
_TAX_FILER = (
    "Nonfiler", "Joint both under 65", "Single", "Joint both 65+", "Head of household",
    "Joint one under 65 & one 65+",
)
_HOUSEHOLD_SUMMARY = (
    "Householder", "Spouse of householder", "Child 18 or older", "Other relative of householder",
    "Nonrelative of householder", "Group Quarters- Secondary individual",
    "Child under 18 never married", "Child under 18 ever married",
)
_HOUSEHOLD_DETAIL = (
    "Householder", "Nonfamily householder", "Spouse of householder",
    "Child 18+ never marr Not in a subfamily", "Child 18+ ever marr Not in a subfamily",
    "Other Rel 18+ ever marr not in subfamily", "Other Rel 18+ never marr not in subfamily",
    "Secondary individual", "Child <18 never marr not in subfamily",
    "Grandchild <18 never marr child of subfamily RP",
)
# Effect of the detailed household status on "never married".
_HOUSEHOLD_NEVER_MARRIED = (-1.2, 0.6, -4.0, 2.5, -2.5, -2.0, 2.0, 0.8, 0.0, 0.0)
_REGION = (NIU, "South", "West", "Midwest", "Northeast", "Abroad")
_STATE = (
    NIU, "California", "Florida", "Utah", "North Carolina", "?", "Abroad", "Oklahoma",
    "Minnesota", "Indiana", "North Dakota", "New Mexico", "Michigan", "Alaska", "Kentucky",
    "Arizona", "New York", "Tennessee", "Texas", "Ohio",
)
_MSA_CHANGE = (
    "?", "Nonmover", "MSA to MSA", "NonMSA to nonMSA", NIU, "MSA to nonMSA", "NonMSA to MSA",
    "Abroad to MSA", "Not identifiable", "Abroad to nonMSA",
)
_REGION_CHANGE = (
    "?", "Nonmover", "Same county", "Different county same state", NIU, "Different region",
    "Different state same division", "Abroad", "Different division same region",
)
_REGION_MOVE = (
    "?", "Nonmover", "Same county", "Different county same state", NIU,
    "Different state in South", "Different state in West", "Different state in Midwest",
    "Abroad", "Different state in Northeast",
)
_MIGRATION_SAME = ("Not in universe under 1 year old", "Yes", "No")
_SUNBELT = ("?", NIU, "No", "Yes")
_FAMILY_UNDER_18 = (NIU, "Both parents present", "Mother only present", "Father only present", "Neither parent present")
_COUNTRIES = (
    "United-States", "Mexico", "?", "Puerto-Rico", "Italy", "Canada", "Germany", "Philippines",
    "Poland", "El-Salvador", "Cuba", "England", "China", "India", "Dominican-Republic",
    "South Korea", "Jamaica", "Vietnam", "Columbia", "Japan",
)
_FOREIGN_SHARES = (0.0, 0.3, 0.1, 0.05, 0.05, 0.04, 0.05, 0.06, 0.04, 0.04, 0.04, 0.04, 0.04, 0.03, 0.04, 0.03, 0.03, 0.03, 0.02, 0.02)
_CITIZENSHIP = (
    "Native- Born in the United States", "Foreign born- Not a citizen of U S ",
    "Foreign born- U S citizen by naturalization", "Native- Born abroad of American Parent(s)",
    "Native- Born in Puerto Rico or U S Outlying",
)
_YES_NO = (NIU, "No", "Yes")
_CALIBRATION_ROWS = 1 << 15


def _select(rng: np.random.Generator, n: int, *cases) -> np.ndarray:
    """Codes drawn per row from the distribution of the first case whose mask holds.

    Each case is `(mask, probabilities)`; rows matching no case get code 0.
    """
    out = np.zeros(n, dtype=np.int64)
    taken = np.zeros(n, dtype=bool)
    for mask, probabilities in cases:
        rows = mask & ~taken
        out[rows] = draw_categorical(rng, probabilities, int(rows.sum()))
        taken |= rows
    return out


def _draw_people(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Every column's integer code (index into its category list) or value."""
    p: dict[str, np.ndarray] = {}
    child = rng.random(n) < 0.27
    age = np.where(child, rng.integers(0, 16, n), 16 + np.floor(rng.beta(1.3, 2.3, n) * 75)).astype(np.int64)
    adult = ~child
    p["age"] = age
    male = rng.random(n) < 0.48
    p["sex"] = male.astype(np.int64)  # index into ("Female", "Male")
    ses = rng.standard_normal(n)  # socio-economic standing, unobserved

    # Education: children are "Children"; adults by rank of a noisy standing.
    standing = sigmoid(1.702 * (0.8 * ses + 0.6 * rng.standard_normal(n)))
    adult_cdf = np.cumsum(_EDUCATION_SHARES) / np.sum(_EDUCATION_SHARES)
    education = 1 + np.minimum(np.searchsorted(adult_cdf, standing), len(_EDUCATION_SHARES) - 1)
    p["education"] = np.where(child, 0, education)
    in_school = (age >= 14) & (age <= 18) & (rng.random(n) < 0.85)
    in_college = (age >= 18) & (age <= 24) & (rng.random(n) < sigmoid(ses - 0.8))
    p["hs_college"] = np.where(in_college, 2, np.where(in_school, 1, 0))

    employed = adult & (rng.random(n) < sigmoid(1.3 + 0.5 * ses - 0.12 * np.maximum(age - 60, 0) - 1.5 * (age < 18)))
    p["class_worker"] = np.where(
        employed, _select(rng, n, (employed, _CLASS_SHARES)),
        np.where(adult & (age < 25) & (rng.random(n) < 0.1), 8, 0),
    )
    # Occupation tilts to professional/executive work with standing.
    occ_weights = np.ones((n, len(_MAJOR_OCCUPATION) - 2))
    occ_weights[:, 1:3] = np.exp(0.9 * ses)[:, None]
    cumulative = np.cumsum(occ_weights, axis=1)
    pick = (rng.random(n) * cumulative[:, -1])[:, None] > cumulative
    major_occ = 1 + pick.sum(axis=1)
    p["major_occ_code"] = np.where(employed, major_occ, 0)
    p["det_occ_code"] = np.where(employed, 1 + (major_occ - 1) * 3 + rng.integers(0, 3, n), 0)
    major_ind = 1 + draw_categorical(rng, np.linspace(2.0, 0.3, len(_MAJOR_INDUSTRY) - 1), n)
    p["major_ind_code"] = np.where(employed, major_ind, 0)
    p["det_ind_code"] = np.where(employed, 1 + (major_ind - 1) * 2 + rng.integers(0, 2, n), 0)
    full_year = rng.random(n) < 0.75
    p["weeks_worked"] = np.where(employed, np.where(full_year, 52, rng.integers(1, 52, n)), 0)
    p["wage_per_hour"] = np.where(
        employed & (rng.random(n) < 0.12), np.round(rng.lognormal(6.9, 0.45, n)), 0
    ).astype(np.int64)
    p["full_or_part_emp"] = _select(
        rng, n,
        (child, (1.0,)),
        (employed, (0.05, 0.75, 0.0, 0.12, 0.0, 0.05, 0.0, 0.03)),
        (adult, (0.3, 0.0, 0.6, 0.0, 0.06, 0.0, 0.04)),
    )
    unemployed = adult & ~employed & (rng.random(n) < 0.15)
    p["unemp_reason"] = np.where(unemployed, 1 + draw_categorical(rng, (0.3, 0.25, 0.2, 0.15, 0.1), n), 0)
    p["union_member"] = _select(rng, n, (employed, (0.15, 0.75, 0.1)))
    p["num_emp"] = np.where(employed, 1 + draw_categorical(rng, (0.15, 0.1, 0.15, 0.2, 0.15, 0.25), n), 0)
    self_employed = np.isin(p["class_worker"], (2, 5))
    p["own_or_self"] = np.where(self_employed, 2, np.where(adult & (rng.random(n) < 0.02), 1, 0))

    gains = adult & (rng.random(n) < sigmoid(-3.3 + 0.9 * ses + 0.02 * (age - 40)))
    p["capital_gains"] = np.where(gains, np.minimum(np.round(rng.lognormal(8.0, 1.0, n)), 99_999), 0).astype(np.int64)
    losses = adult & ~gains & (rng.random(n) < 0.02)
    p["capital_losses"] = np.where(losses, rng.integers(1_000, 2_500, n), 0)
    dividends = adult & (rng.random(n) < sigmoid(-2.4 + 0.8 * ses + 0.02 * (age - 40)))
    p["stock_dividends"] = np.where(dividends, np.round(rng.lognormal(5.5, 1.3, n)), 0).astype(np.int64)

    # Household: the role in the household depends on age.
    young, middle = adult & (age < 25), adult & (age >= 25) & (age < 65)
    old = adult & (age >= 65)
    summary = _select(
        rng, n,
        (child, (0.0, 0.0, 0.0, 0.1, 0.02, 0.0, 0.88)),
        (young & (age < 18), (0.02, 0.01, 0.0, 0.05, 0.02, 0.0, 0.89, 0.01)),
        (young, (0.18, 0.12, 0.5, 0.07, 0.1, 0.03)),
        (middle, (0.5, 0.36, 0.05, 0.04, 0.04, 0.01)),
        (old, (0.58, 0.3, 0.0, 0.09, 0.02, 0.01)),
    )
    p["det_hh_summ"] = summary
    p["det_hh_fam_stat"] = np.select(
        [
            summary == 0, summary == 1, summary == 2, summary == 3, summary == 4, summary == 5,
        ],
        [
            np.where(rng.random(n) < 0.75, 0, 1), np.full(n, 2), np.where(rng.random(n) < 0.85, 3, 4),
            np.where(child, 9, np.where(rng.random(n) < 0.5, 5, 6)), np.full(n, 7), np.full(n, 7),
        ],
        default=8,
    )
    couple = (summary == 1) | ((p["det_hh_fam_stat"] == 0) & (rng.random(n) < 0.8))
    p["tax_filer_stat"] = np.select(
        [child | (adult & ~employed & ~couple & (rng.random(n) < 0.7)), couple & (age >= 65), couple],
        [np.zeros(n, dtype=np.int64), np.where(rng.random(n) < 0.7, 3, 5), np.ones(n, dtype=np.int64)],
        default=np.where(rng.random(n) < 0.8, 2, 4),
    )
    p["fam_under_18"] = _select(rng, n, (child, (0.0, 0.7, 0.22, 0.05, 0.03)))

    p["race"] = draw_categorical(rng, (0.84, 0.1, 0.035, 0.01, 0.015), n)
    p["hisp_origin"] = draw_categorical(rng, (0.86, 0.04, 0.035, 0.02, 0.016, 0.012, 0.006, 0.004, 0.002, 0.002), n)
    foreign = rng.random(n) < 0.11
    country_self = np.where(foreign, draw_categorical(rng, _FOREIGN_SHARES, n), 0)
    p["country_self"] = country_self
    for parent in ("country_father", "country_mother"):
        keeps = rng.random(n) < np.where(foreign, 0.92, 0.88)
        p[parent] = np.where(keeps, country_self, draw_categorical(rng, (0.3,) + _FOREIGN_SHARES[1:], n))
    p["citizenship"] = np.select(
        [country_self == 0, country_self == 3],
        [np.where(rng.random(n) < 0.97, 0, 3), np.full(n, 4)],
        default=np.where(rng.random(n) < 0.6, 1, 2),
    )
    p["vet_question"] = _select(rng, n, (adult & (age < 18), (0.0, 0.9, 0.1)), (adult, (0.98, 0.015, 0.005)))
    p["vet_benefits"] = np.where(child, 0, np.where(rng.random(n) < 0.985, 2, 1))

    # The 1995 survey year has no migration questions ("?").
    year95 = rng.random(n) < 0.5
    p["year"] = np.where(year95, 95, 94)
    mover = ~year95 & (rng.random(n) < 0.17)
    p["mig_same"] = np.where(year95, 0, np.where(mover, 2, 1))
    p["mig_chg_msa"] = np.where(year95, 0, np.where(mover, 2 + draw_categorical(rng, (0.5, 0.2, 0.05, 0.1, 0.08, 0.03, 0.02, 0.02), n), 1))
    p["mig_chg_reg"] = np.where(year95, 0, np.where(mover, 2 + draw_categorical(rng, (0.5, 0.2, 0.05, 0.1, 0.05, 0.05, 0.05), n), 1))
    p["mig_move_reg"] = np.where(year95, 0, np.where(mover, 2 + draw_categorical(rng, (0.5, 0.2, 0.05, 0.07, 0.06, 0.05, 0.03, 0.04), n), 1))
    p["mig_prev_sunbelt"] = np.where(year95, 0, np.where(mover, 2 + (rng.random(n) < 0.35), 1))
    moved_far = mover & (p["mig_chg_reg"] >= 5)
    p["region_prev_res"] = np.where(moved_far, 1 + draw_categorical(rng, (0.35, 0.25, 0.2, 0.15, 0.05), n), 0)
    p["state_prev_res"] = np.where(moved_far, 1 + draw_categorical(rng, np.linspace(3.0, 0.5, len(_STATE) - 1), n), 0)
    p["instance_weight"] = np.round(rng.lognormal(7.35, 0.5, n), 2)
    return p


def _logits(p: dict[str, np.ndarray], s: float) -> tuple[np.ndarray, np.ndarray]:
    """Planted logits of income over 50k and of never married, before intercepts.

    Age, sex, education, weeks worked and the household status drive both."""
    age = p["age"]
    child = age < 16
    adult_age = np.maximum(age - 16, 0)
    education = np.asarray((0.0,) + _EDUCATION_INCOME)[p["education"]]
    weeks = p["weeks_worked"] / 52.0
    couple = np.isin(p["tax_filer_stat"], (1, 3, 5))
    income = (
        1.1 * education
        + 0.9 * p["sex"]
        - 0.0018 * (age - 50.0) ** 2
        + 1.8 * weeks
        + 0.3 * np.log1p(p["capital_gains"]) * 0.5
        + 0.15 * np.log1p(p["stock_dividends"])
        + np.asarray(_OCCUPATION_INCOME)[p["major_occ_code"]]
        + np.asarray(_CLASS_INCOME + (0.0,))[p["class_worker"]]
        + 0.6 * couple
    )
    marital = (
        1.6 - 0.09 * adult_age
        + np.asarray(_HOUSEHOLD_NEVER_MARRIED)[p["det_hh_fam_stat"]]
        - 1.2 * couple
        + 0.3 * p["sex"]
        + 0.15 * (p["education"] >= 13)
        - 0.6 * weeks
    )
    income = np.where(child, -12.0, s * income)
    marital = np.where(child, 8.0, s * marital)
    return income, marital


@lru_cache(maxsize=8)
def _census_intercepts(model_seed: int, signal_strength: float) -> tuple[float, float]:
    people = _draw_people(model_rng(model_seed, "census-calibration"), _CALIBRATION_ROWS)
    income, marital = _logits(people, signal_strength)
    return calibrate_intercept(income, 0.062), calibrate_intercept(marital, 0.44)


def _strings(codes: np.ndarray, categories) -> pd.Series:
    return string_column(codes, np.array(categories, dtype=object))


def make_census(
    n_rows: int, seed: int = 0, *, model_seed: int = 0, signal_strength: float = 1.0
) -> SyntheticDataset:
    """Census-income-like rows with the 42 columns of DeepCTR's MMOE example.

    Values are those of `census-income.sample` as `read_census` returns them
    (without the blank after each comma): text categories such as
    `Private`, `Never married`, `- 50000.`; integer codes and amounts; the
    float `instance_weight`. The columns hang together as in the survey:
    children have no job, income or spouse; workers have an industry,
    occupation and weeks worked; the household role follows age; the 1995
    rows have `?` for the migration questions; citizenship follows the
    country of birth.

    Two labels are planted on these columns, as in the MMOE example:
    `label_income` (income over 50k, about 6%) and `label_marital` (never
    married, about 44%). Age, sex, education, weeks worked and the tax-filer
    (joint or not) status drive both; occupation, employer class and capital
    income drive only income; the household role drives only marital status.
    `income_50k` and `marital_stat` are written from the labels (the other
    marital statuses drawn by age), so they must not be used as features.

    Arguments:
        n_rows, seed, model_seed, signal_strength: as `make_criteo`.

    Returns:
        A `SyntheticDataset` with `target == ("label_income", "label_marital")`
        and `probability`, `labels` of shape `(n, 2)` in that order.
    """
    n = check_rows(n_rows)
    if signal_strength < 0:
        raise ValueError(f"signal_strength must be >= 0, got {signal_strength!r}")
    b_income, b_marital = _census_intercepts(int(model_seed), float(signal_strength))
    rng = np.random.default_rng(seed)
    p = _draw_people(rng, n)
    income, marital = _logits(p, float(signal_strength))
    probability = np.stack([sigmoid(income + b_income), sigmoid(marital + b_marital)], axis=1)
    labels = (rng.random((n, 2)) < probability).astype(np.int64)
    # The other marital statuses: widowhood grows with age.
    age = p["age"]
    other_status = np.where(
        rng.random(n) < np.clip((age - 45) / 80.0, 0.0, 0.4), 3,
        draw_categorical(rng, (0.0, 0.8, 0.12, 0.0, 0.05, 0.02, 0.01), n),
    )
    marital_codes = np.where(labels[:, 1] == 1, 0, other_status)

    columns = {
        "age": age,
        "class_worker": _strings(p["class_worker"], _CLASS_WORKER),
        "det_ind_code": p["det_ind_code"],
        "det_occ_code": p["det_occ_code"],
        "education": _strings(p["education"], _EDUCATION),
        "wage_per_hour": p["wage_per_hour"],
        "hs_college": _strings(p["hs_college"], (NIU, "High school", "College or university")),
        "marital_stat": _strings(marital_codes, (
            CENSUS_NEVER_MARRIED, "Married-civilian spouse present", "Divorced", "Widowed",
            "Separated", "Married-spouse absent", "Married-A F spouse present",
        )),
        "major_ind_code": _strings(p["major_ind_code"], _MAJOR_INDUSTRY),
        "major_occ_code": _strings(p["major_occ_code"], _MAJOR_OCCUPATION),
        "race": _strings(p["race"], _RACE),
        # The survey's "NA" category reads as missing (see `read_census`).
        "hisp_origin": _strings(np.where(p["hisp_origin"] == _HISPANIC.index("NA"), -1, p["hisp_origin"]), _HISPANIC),
        "sex": _strings(p["sex"], ("Female", "Male")),
        "union_member": _strings(p["union_member"], _YES_NO),
        "unemp_reason": _strings(p["unemp_reason"], _UNEMPLOYMENT),
        "full_or_part_emp": _strings(p["full_or_part_emp"], _FULL_OR_PART),
        "capital_gains": p["capital_gains"],
        "capital_losses": p["capital_losses"],
        "stock_dividends": p["stock_dividends"],
        "tax_filer_stat": _strings(p["tax_filer_stat"], _TAX_FILER),
        "region_prev_res": _strings(p["region_prev_res"], _REGION),
        "state_prev_res": _strings(p["state_prev_res"], _STATE),
        "det_hh_fam_stat": _strings(p["det_hh_fam_stat"], _HOUSEHOLD_DETAIL),
        "det_hh_summ": _strings(p["det_hh_summ"], _HOUSEHOLD_SUMMARY),
        "instance_weight": p["instance_weight"],
        "mig_chg_msa": _strings(p["mig_chg_msa"], _MSA_CHANGE),
        "mig_chg_reg": _strings(p["mig_chg_reg"], _REGION_CHANGE),
        "mig_move_reg": _strings(p["mig_move_reg"], _REGION_MOVE),
        "mig_same": _strings(p["mig_same"], _MIGRATION_SAME),
        "mig_prev_sunbelt": _strings(p["mig_prev_sunbelt"], _SUNBELT),
        "num_emp": p["num_emp"],
        "fam_under_18": _strings(p["fam_under_18"], _FAMILY_UNDER_18),
        "country_father": _strings(p["country_father"], _COUNTRIES),
        "country_mother": _strings(p["country_mother"], _COUNTRIES),
        "country_self": _strings(p["country_self"], _COUNTRIES),
        "citizenship": _strings(p["citizenship"], _CITIZENSHIP),
        "own_or_self": p["own_or_self"],
        "vet_question": _strings(p["vet_question"], _YES_NO),
        "vet_benefits": p["vet_benefits"],
        "weeks_worked": p["weeks_worked"],
        "year": p["year"],
        "income_50k": _strings(labels[:, 0], (CENSUS_LOW_INCOME, CENSUS_HIGH_INCOME)),
        "label_income": labels[:, 0],
        "label_marital": labels[:, 1],
    }
    frame = pd.DataFrame({k: (v.astype(np.int64) if isinstance(v, np.ndarray) and v.dtype.kind in "iub" else v) for k, v in columns.items()})
    return SyntheticDataset(
        frame=frame,
        probability=probability,
        labels=labels,
        target=CENSUS_LABELS,
        sparse_features=CENSUS_SPARSE_FEATURES,
        dense_features=CENSUS_DENSE_FEATURES,
    )
