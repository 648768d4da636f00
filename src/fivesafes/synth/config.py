"""Settings of the synthetic world: its size, its time span, identifier error
rates and the true parameters of the planted effects.

Every number here is documented in ``docs/synthetic-world.md``; change one and
the world changes with it, reproducibly for a given seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ErrorRates:
    """Base probability of each identifier error, per record.

    Multipliers make errors non-uniform, as in real data: names from non-British
    pools are mistyped and respelt more often, postcodes go missing more often in
    the most deprived areas, and some datasets are sloppier than others.
    """

    forename_typo: float = 0.02
    forename_alternative: float = 0.04  # nickname or alternative spelling
    surname_typo: float = 0.02
    surname_variant: float = 0.01  # alternative spelling of the surname
    surname_old: float = 0.30  # after a change of surname, record still has the old one
    dob_day_month_swap: float = 0.01  # only possible when day <= 12
    dob_one_component_off: float = 0.01  # day, month or year off by one
    postcode_missing: float = 0.04
    postcode_outdated: float = 0.15  # after a move, record still has the previous postcode
    reference_missing: float = 0.04
    reference_typo: float = 0.005
    sex_wrong: float = 0.002
    # Real-world kinds (issue 16), from the generator's own lists (synth/name_forms.py):
    names_swapped: float = 0.004  # forename and surname exchanged between the fields
    forename_initial: float = 0.004  # forename reduced to its initial
    surname_part: float = 0.25  # of a double-barrelled surname, one part only
    forename_form: float = 0.04  # a Welsh or English form, where the name has one
    name_transliterated: float = 0.15  # another romanisation, where the name has one
    name_formatting: float = 0.02  # accents, case and stray spaces
    dob_filler: float = 0.003  # 1 January of the year of birth
    double_barrelled: float = 0.03  # persons of British or Welsh origin
    filler_immigrant_multiplier: float = 4.0  # born abroad: date often unknown
    older_multiplier: float = 2.0  # initials and filler dates, aged 65 or over
    foreign_swap_multiplier: float = 3.0  # names swapped: naming orders differ
    kind_dataset_multiplier: dict[str, dict[str, float]] = field(
        default_factory=lambda: {
            "hospital_admissions": {"forename_initial": 3.0, "dob_filler": 2.0},
            "justice_offences": {"names_swapped": 2.0, "dob_filler": 2.0},
            "census_2021": {"name_formatting": 0.5, "forename_initial": 0.5},
        }
    )
    duplicate: float = 0.01  # the same record sent twice, with its own errors
    non_british_name_multiplier: float = 2.5
    deprived_postcode_multiplier: float = 2.0  # most deprived quintile
    dataset_multiplier: dict[str, float] = field(
        default_factory=lambda: {
            "pupil_census": 0.6,
            "justice_offences": 1.6,
            "cla_episodes": 1.0,
            "cin_census": 1.0,
            "hospital_admissions": 1.3,
            "earnings_survey": 0.8,
            "census_2021": 0.7,
        }
    )


@dataclass(frozen=True)
class Effects:
    """True parameters of the effects planted in the world."""

    # Attainment trajectories (standardised score, mean 50 sd 10, years 2 to 11).
    trajectory_groups: tuple[str, ...] = (
        "stable_high",
        "stable_middle",
        "rising",
        "declining",
        "stable_low",
    )
    trajectory_shares: tuple[float, ...] = (0.20, 0.35, 0.10, 0.10, 0.25)
    # Mean score at year 2 and change per year (linear), and curvature (per year^2).
    trajectory_intercept: tuple[float, ...] = (63.0, 51.0, 40.0, 55.0, 37.0)
    trajectory_slope: tuple[float, ...] = (0.0, 0.0, 2.2, -2.4, 0.0)
    trajectory_curvature: tuple[float, ...] = (0.0, 0.0, -0.05, -0.05, 0.0)
    trajectory_person_sd: float = 2.0
    trajectory_noise_sd: float = 2.5
    # Log-odds shift of belonging to stable_low/declining rather than others,
    # per deprivation quintile below the least deprived (0..4) and when in care.
    deprivation_low_attainment_logodds: float = 0.25
    care_low_attainment_logodds: float = 1.0
    # Ethnic group shift of attainment (score points), by 18-group code.
    ethnic_attainment_shift: dict[str, float] = field(
        default_factory=lambda: {"ACHN": 5.0, "AIND": 3.0, "WIRT": -8.0, "BCRB": -2.0}
    )
    # Conviction (any caution or conviction) by age 21: baseline log-odds by
    # trajectory group (female, least deprived quintile, never in care) ...
    conviction_logodds_by_group: tuple[float, ...] = (-4.2, -3.4, -3.2, -1.1, -2.4)
    # ... plus these log-odds shifts.
    conviction_male_logodds: float = 1.1
    conviction_deprivation_logodds: float = 0.2  # per quintile more deprived
    conviction_care_logodds: float = 1.2
    # Share of those convicted by 21 whose first offence falls before the end of
    # year 11 (age 16), by trajectory group.
    early_onset_share: tuple[float, ...] = (0.30, 0.35, 0.35, 0.65, 0.45)
    # People who are not in a school cohort: adult onset conviction probability.
    adult_conviction_probability: float = 0.04
    # Children looked after: log-odds of ever being looked after.
    care_logodds: float = -4.8
    care_deprivation_logodds: float = 0.45  # per quintile more deprived
    children_in_need_probability: float = 0.06
    # Spatial clustering of one special-needs type (ASD) in a hotspot of areas.
    hotspot_sen_type: str = "ASD"
    hotspot_odds_ratio: float = 4.0
    hotspot_share_of_areas: float = 0.06
    # Immigrant pay gap (log hourly pay), narrowing with years of residence.
    immigrant_gap_at_arrival: float = -0.25
    immigrant_gap_narrowing_per_year: float = 0.01  # for up to 20 years
    english_proficiency_effect: dict[str, float] = field(
        default_factory=lambda: {"0": 0.0, "1": 0.0, "2": -0.05, "3": -0.12, "4": -0.20}
    )
    employer_effect_sd: float = 0.20
    immigrant_employer_sorting: float = 1.0  # how far immigrants sit in lower-paying employers
    female_pay_logodds: float = -0.08
    skill_pay_step: float = 0.15
    pay_noise_sd: float = 0.25
    # Ethnicity missing, by dataset (base) and extra for mixed/other groups.
    ethnicity_missing: dict[str, float] = field(
        default_factory=lambda: {
            "pupil_census": 0.03,
            "justice_offences": 0.20,
            "hospital_admissions": 0.12,
            "census_2021": 0.01,
        }
    )
    ethnicity_missing_minority_multiplier: float = 2.5
    ethnicity_recorded_differently: float = 0.05  # school records a different group


@dataclass(frozen=True)
class WorldConfig:
    """The whole configuration of one synthetic world."""

    people: int = 5000
    seed: int = 1
    first_year: int = 2006  # first year of yearly collections
    last_year: int = 2023
    birth_from: int = 1956
    birth_to: int = 2016
    earnings_panel_share: float = 0.25
    errors: ErrorRates = field(default_factory=ErrorRates)
    effects: Effects = field(default_factory=Effects)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
