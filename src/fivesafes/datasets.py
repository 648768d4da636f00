"""The provider datasets: their files, columns, types, code lists and zones.

This catalogue is the contract between the people who send data and the store:
the synthetic world writes files to it, ingest validates files against it, and
each column's *zone* says where it goes (``identifier``: only the trusted third
party ever sees it; ``content``: the research side; ``both``: needed on each side,
like sex). A date of birth is an identifier, but its year and month may be
derived into the content zone (``derive_birth``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["string", "integer", "number", "date", "code", "flag"]
Zone = Literal["identifier", "content", "both"]

#: ONS 2011 ethnic group classification: 18 groups, each with its 5-group parent.
ETHNICITY_18: dict[str, tuple[str, str]] = {
    "WBRI": ("White: English, Welsh, Scottish, Northern Irish or British", "W"),
    "WIRI": ("White: Irish", "W"),
    "WIRT": ("White: Gypsy or Irish Traveller", "W"),
    "WOTH": ("White: any other White background", "W"),
    "MWBC": ("Mixed: White and Black Caribbean", "M"),
    "MWBA": ("Mixed: White and Black African", "M"),
    "MWAS": ("Mixed: White and Asian", "M"),
    "MOTH": ("Mixed: any other Mixed background", "M"),
    "AIND": ("Asian: Indian", "A"),
    "APKN": ("Asian: Pakistani", "A"),
    "ABAN": ("Asian: Bangladeshi", "A"),
    "ACHN": ("Asian: Chinese", "A"),
    "AOTH": ("Asian: any other Asian background", "A"),
    "BAFR": ("Black: African", "B"),
    "BCRB": ("Black: Caribbean", "B"),
    "BOTH": ("Black: any other Black background", "B"),
    "OARB": ("Other: Arab", "O"),
    "OOTH": ("Other: any other ethnic group", "O"),
}
ETHNICITY_5: dict[str, str] = {
    "W": "White",
    "M": "Mixed or multiple ethnic groups",
    "A": "Asian or Asian British",
    "B": "Black, Black British, Caribbean or African",
    "O": "Other ethnic group",
}
#: Codes schools use when ethnicity was not given.
ETHNICITY_NOT_GIVEN = {"REFU": "Refused", "NOBT": "Information not yet obtained"}

COUNTRIES_OF_BIRTH: dict[str, str] = {
    "ENG": "England",
    "WAL": "Wales",
    "SCT": "Scotland",
    "NIR": "Northern Ireland",
    "IRL": "Ireland",
    "POL": "Poland",
    "ROU": "Romania",
    "LTU": "Lithuania",
    "IND": "India",
    "PAK": "Pakistan",
    "BGD": "Bangladesh",
    "CHN": "China",
    "HKG": "Hong Kong",
    "NGA": "Nigeria",
    "SOM": "Somalia",
    "JAM": "Jamaica",
    "SYR": "Syria",
    "IRQ": "Iraq",
    "OTH": "Other country",
}
UK_COUNTRIES = ("ENG", "WAL", "SCT", "NIR")

SEN_TYPES: dict[str, str] = {
    "SPLD": "Specific learning difficulty",
    "MLD": "Moderate learning difficulty",
    "SLD": "Severe learning difficulty",
    "PMLD": "Profound and multiple learning difficulty",
    "SEMH": "Social, emotional and mental health",
    "SLCN": "Speech, language and communication needs",
    "HI": "Hearing impairment",
    "VI": "Visual impairment",
    "MSI": "Multi-sensory impairment",
    "PD": "Physical disability",
    "ASD": "Autistic spectrum disorder",
    "OTH": "Other difficulty or disability",
}
SEN_PROVISION = {"N": "No special educational need", "K": "SEN support", "E": "EHC plan"}
YEAR_GROUPS = ("R", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11")

OFFENCE_GROUPS: dict[str, str] = {
    "VAP": "Violence against the person",
    "SEX": "Sexual offences",
    "ROB": "Robbery",
    "THF": "Theft offences",
    "DAM": "Criminal damage and arson",
    "DRG": "Drug offences",
    "WPN": "Possession of weapons",
    "POR": "Public order offences",
    "MSC": "Miscellaneous crimes against society",
    "FRD": "Fraud offences",
    "SUM": "Summary non-motoring offences",
}
DISPOSALS: dict[str, str] = {
    "CAU": "Caution (adult simple caution)",
    "YCA": "Youth caution",
    "DIS": "Absolute or conditional discharge",
    "FIN": "Fine",
    "COM": "Community sentence",
    "SUS": "Suspended sentence",
    "CUS": "Immediate custody",
}
LEGAL_STATUS: dict[str, str] = {
    "C1": "Interim care order",
    "C2": "Full care order",
    "E1": "Placement order granted",
    "V2": "Single period of accommodation under section 20",
    "J2": "Remanded to local authority accommodation",
    "L1": "Under police protection",
}
PLACEMENT_TYPES: dict[str, str] = {
    "U1": "Foster placement with relative or friend",
    "U4": "Foster placement with other foster carer",
    "K2": "Children's home",
    "R1": "Residential care home",
    "P1": "Placed with own parent(s)",
    "A3": "Placed for adoption",
    "H5": "Semi-independent living accommodation",
}
CATEGORIES_OF_NEED: dict[str, str] = {
    "N1": "Abuse or neglect",
    "N2": "Child's disability or illness",
    "N3": "Parental illness or disability",
    "N4": "Family in acute stress",
    "N5": "Family dysfunction",
    "N6": "Socially unacceptable behaviour",
    "N7": "Low income",
    "N8": "Absent parenting",
    "N9": "Cases other than children in need",
}
DIAGNOSIS_CHAPTERS: dict[str, str] = {
    f"{i:02d}": name
    for i, name in enumerate(
        [
            "Infectious and parasitic diseases",
            "Neoplasms",
            "Blood and immune disorders",
            "Endocrine, nutritional and metabolic",
            "Mental and behavioural disorders",
            "Nervous system",
            "Eye and adnexa",
            "Ear and mastoid process",
            "Circulatory system",
            "Respiratory system",
            "Digestive system",
            "Skin and subcutaneous tissue",
            "Musculoskeletal system",
            "Genitourinary system",
            "Pregnancy and childbirth",
            "Perinatal conditions",
            "Congenital malformations",
            "Symptoms and abnormal findings",
            "Injury, poisoning and external causes",
            "External causes of morbidity",
            "Factors influencing health status",
            "Codes for special purposes",
        ],
        start=1,
    )
}
SKILL_LEVELS = {"1": "Elementary", "2": "Intermediate", "3": "Upper-middle", "4": "High"}
CONTRACTS = {"P": "Permanent", "T": "Temporary"}
ENGLISH_PROFICIENCY = {
    "0": "Main language is English",
    "1": "Very well",
    "2": "Well",
    "3": "Not well",
    "4": "Not at all",
}
PASSPORTS = {"UK": "United Kingdom", "IE": "Ireland", "EU": "Other EU", "OT": "Other", "NO": "None"}
NATIONAL_IDENTITIES = {
    "BRI": "British only",
    "ENG": "English",
    "WEL": "Welsh",
    "OUK": "Other UK identity",
    "NUK": "Non-UK identity only",
}

POSTCODE_PATTERN = r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}$"
AREA_PATTERN = r"^X01[0-9]{6}$"
LA_PATTERN = r"^X06[0-9]{6}$"


@dataclass(frozen=True)
class Column:
    """One column of a provider file."""

    name: str
    kind: Kind
    zone: Zone
    description: str
    required: bool = False
    codes: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    date_format: str = "%Y-%m-%d"
    derive_birth: bool = False

    @property
    def to_identifiers(self) -> bool:
        return self.zone in ("identifier", "both")

    @property
    def to_content(self) -> bool:
        return self.zone in ("content", "both")


@dataclass(frozen=True)
class Dataset:
    """A dataset a provider sends: one file, or one file per year."""

    name: str
    title: str
    provider: str
    description: str
    yearly: bool
    columns: tuple[Column, ...]
    #: The date of birth this provider writes when it does not know one
    #: (``YYYY-MM-DD``), if its spec names one: the linkage treats it as weak
    #: evidence, as it does 1 January and 1900-01-01.
    dob_filler: str | None = None

    def file_name(self, year: int | None = None) -> str:
        if self.yearly:
            if year is None:
                raise ValueError(f"{self.name} is yearly: give a year")
            return f"{self.name}_{year}.csv"
        return f"{self.name}.csv"

    def matches(self, file_name: str) -> bool:
        if self.yearly:
            return re.fullmatch(rf"{self.name}_\d{{4}}\.csv", file_name) is not None
        return file_name == f"{self.name}.csv"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def identifier_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.to_identifiers)

    @property
    def content_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.to_content)

    @property
    def about_persons(self) -> bool:
        """Whether each record is about a person (so it is linked), unlike reference data."""
        return {"forename", "surname", "date_of_birth"} <= set(self.column_names)

    @property
    def private_columns(self) -> tuple[Column, ...]:
        """Columns that must never reach the research side."""
        return tuple(c for c in self.columns if c.zone == "identifier")


def _codes(d: dict[str, object]) -> tuple[str, ...]:
    return tuple(d)


ETHNICITY_CODES = _codes(dict(ETHNICITY_18))


def _person_identifiers(
    reference: Column | None = None,
    extra: tuple[Column, ...] = (),
    date_format: str = "%Y-%m-%d",
) -> tuple[Column, ...]:
    cols: list[Column] = []
    if reference is not None:
        cols.append(reference)
    cols.extend(extra)
    cols += [
        Column("forename", "string", "identifier", "First forename as recorded", required=True),
        Column("surname", "string", "identifier", "Surname as recorded", required=True),
        Column(
            "date_of_birth",
            "date",
            "identifier",
            "Date of birth (year and month go to the content zone)",
            required=True,
            date_format=date_format,
            derive_birth=True,
        ),
        Column("sex", "code", "both", "Sex as recorded", required=True, codes=("M", "F")),
        Column(
            "postcode",
            "string",
            "identifier",
            "Home postcode at the time of the record",
            pattern=POSTCODE_PATTERN,
        ),
    ]
    return tuple(cols)


def _area() -> Column:
    return Column(
        "area_code",
        "string",
        "content",
        "Small area (LSOA-like) of the recorded postcode",
        pattern=AREA_PATTERN,
    )


UPN = Column(
    "upn",
    "string",
    "identifier",
    "Unique pupil number",
    pattern=r"^[A-Z][0-9]{12}$",
)
CHILD_ID = Column(
    "child_id",
    "string",
    "identifier",
    "Local authority's own child reference",
    required=True,
    pattern=r"^[0-9]{3}-[0-9]{7}$",
)

PUPIL_CENSUS = Dataset(
    name="pupil_census",
    title="School census (pupil level)",
    provider="Department for Education (schools' January census)",
    description="One row per pupil on roll in a state school, per academic year. "
    "The file year is the academic year's start (2015 = 2015/16, census of January 2016).",
    yearly=True,
    columns=(
        *_person_identifiers(UPN),
        Column(
            "academic_year",
            "integer",
            "content",
            "Start year of the academic year",
            required=True,
            minimum=1990,
            maximum=2100,
        ),
        Column(
            "school_id",
            "string",
            "content",
            "School (LAESTAB)",
            required=True,
            pattern=r"^[0-9]{7}$",
        ),
        Column(
            "la_code",
            "string",
            "content",
            "Local authority of the school",
            required=True,
            pattern=LA_PATTERN,
        ),
        _area(),
        Column(
            "year_group",
            "code",
            "content",
            "National curriculum year group",
            required=True,
            codes=YEAR_GROUPS,
        ),
        Column("fsm", "flag", "content", "Eligible for free school meals", required=True),
        Column(
            "sen_provision",
            "code",
            "content",
            "Special educational needs provision",
            required=True,
            codes=_codes(dict(SEN_PROVISION)),
        ),
        Column(
            "sen_type",
            "code",
            "content",
            "Primary type of special educational need",
            codes=_codes(dict(SEN_TYPES)),
        ),
        Column(
            "ethnicity",
            "code",
            "content",
            "Ethnicity as recorded by the school",
            codes=ETHNICITY_CODES + tuple(ETHNICITY_NOT_GIVEN),
        ),
        Column(
            "attainment_score",
            "number",
            "content",
            "Teacher-assessed attainment this year, standardised (mean 50, sd 10)",
            minimum=0,
            maximum=100,
        ),
        Column(
            "ks1_points",
            "number",
            "content",
            "Key stage 1 average point score (year 2)",
            minimum=3,
            maximum=21,
        ),
        Column(
            "ks2_scaled_score",
            "number",
            "content",
            "Key stage 2 reading and maths scaled score (year 6)",
            minimum=80,
            maximum=120,
        ),
        Column(
            "ks4_attainment8",
            "number",
            "content",
            "Key stage 4 Attainment 8 (year 11)",
            minimum=0,
            maximum=90,
        ),
        Column(
            "sessions_absent",
            "integer",
            "content",
            "Half-day sessions absent",
            required=True,
            minimum=0,
            maximum=400,
        ),
        Column(
            "fixed_term_exclusions",
            "integer",
            "content",
            "Fixed-term exclusions (suspensions) this year",
            required=True,
            minimum=0,
            maximum=60,
        ),
        Column(
            "permanent_exclusion",
            "flag",
            "content",
            "Permanently excluded this year",
            required=True,
        ),
    ),
)

JUSTICE_OFFENCES = Dataset(
    name="justice_offences",
    title="Police National Computer: cautions, convictions and custody",
    provider="Ministry of Justice",
    description="One row per proven offence (caution or conviction), with the disposal "
    "and, for immediate custody, the dates served.",
    yearly=False,
    columns=(
        *_person_identifiers(
            Column(
                "pnc_id",
                "string",
                "identifier",
                "Police National Computer id",
                pattern=r"^[0-9]{2}/[0-9]{7}[A-Z]$",
            )
        ),
        Column("offence_date", "date", "content", "Date of the offence", required=True),
        Column(
            "outcome_date", "date", "content", "Date of the caution or conviction", required=True
        ),
        Column(
            "offence_group",
            "code",
            "content",
            "Offence group",
            required=True,
            codes=_codes(dict(OFFENCE_GROUPS)),
        ),
        Column(
            "disposal",
            "code",
            "content",
            "Disposal (outcome)",
            required=True,
            codes=_codes(dict(DISPOSALS)),
        ),
        Column(
            "court",
            "string",
            "content",
            "Court code (blank for cautions)",
            pattern=r"^(MC|CC|YC)[0-9]{3}$",
        ),
        Column("custody_start", "date", "content", "Custodial sentence start"),
        Column("custody_end", "date", "content", "Release from custody"),
        Column(
            "ethnicity_observed",
            "code",
            "content",
            "Officer-observed ethnicity (5 groups)",
            codes=_codes(dict(ETHNICITY_5)),
        ),
        _area(),
    ),
)

CLA_EPISODES = Dataset(
    name="cla_episodes",
    title="Children looked after: episodes (SSDA903-like)",
    provider="Local authorities",
    description="One row per episode of care: a change of legal status or placement "
    "starts a new episode.",
    yearly=False,
    columns=(
        *_person_identifiers(CHILD_ID, extra=(UPN,)),
        Column(
            "la_code",
            "string",
            "content",
            "Responsible local authority",
            required=True,
            pattern=LA_PATTERN,
        ),
        Column("episode_start", "date", "content", "Start of the episode", required=True),
        Column("episode_end", "date", "content", "End of the episode (blank if open)"),
        Column(
            "legal_status",
            "code",
            "content",
            "Legal status",
            required=True,
            codes=_codes(dict(LEGAL_STATUS)),
        ),
        Column(
            "placement_type",
            "code",
            "content",
            "Placement type",
            required=True,
            codes=_codes(dict(PLACEMENT_TYPES)),
        ),
        Column(
            "reason_for_entry",
            "code",
            "content",
            "Category of need on entry",
            required=True,
            codes=_codes(dict(CATEGORIES_OF_NEED)),
        ),
        _area(),
    ),
)

CIN_CENSUS = Dataset(
    name="cin_census",
    title="Children in need census",
    provider="Local authorities",
    description="One row per child receiving care and support during the year "
    "(1 April to 31 March); the file year is the year the census year starts.",
    yearly=True,
    columns=(
        *_person_identifiers(CHILD_ID, extra=(UPN,)),
        Column(
            "census_year",
            "integer",
            "content",
            "Start year of the census year",
            required=True,
            minimum=1990,
            maximum=2100,
        ),
        Column(
            "la_code", "string", "content", "Local authority", required=True, pattern=LA_PATTERN
        ),
        Column("referral_date", "date", "content", "Date of referral", required=True),
        Column(
            "primary_need",
            "code",
            "content",
            "Primary category of need",
            required=True,
            codes=_codes(dict(CATEGORIES_OF_NEED)),
        ),
        Column("disability", "flag", "content", "Child has a disability", required=True),
        Column("cin_closure_date", "date", "content", "Date the case closed (blank if open)"),
        _area(),
    ),
)

HOSPITAL_ADMISSIONS = Dataset(
    name="hospital_admissions",
    title="Hospital episode statistics: admitted patient care",
    provider="NHS",
    description="One row per admission. Dates are sent as DD/MM/YYYY.",
    yearly=False,
    columns=(
        *_person_identifiers(
            Column(
                "nhs_number",
                "string",
                "identifier",
                "NHS number (10 digits, mod-11 check)",
                pattern=r"^[0-9]{10}$",
            ),
            date_format="%d/%m/%Y",
        ),
        Column(
            "admission_date",
            "date",
            "content",
            "Date of admission",
            required=True,
            date_format="%d/%m/%Y",
        ),
        Column("discharge_date", "date", "content", "Date of discharge", date_format="%d/%m/%Y"),
        Column(
            "diagnosis_chapter",
            "code",
            "content",
            "ICD-10 chapter of primary diagnosis",
            required=True,
            codes=_codes(dict(DIAGNOSIS_CHAPTERS)),
        ),
        Column(
            "self_harm", "flag", "content", "Admission for intentional self-harm", required=True
        ),
        Column(
            "ethnicity",
            "code",
            "content",
            "Ethnicity as recorded by the hospital",
            codes=ETHNICITY_CODES,
        ),
        _area(),
    ),
)

EARNINGS_SURVEY = Dataset(
    name="earnings_survey",
    title="Annual survey of hours and earnings (ASHE-like)",
    provider="Office for National Statistics",
    description="One row per employee job in the survey's panel, per year (April).",
    yearly=True,
    columns=(
        *_person_identifiers(
            Column(
                "nino",
                "string",
                "identifier",
                "National Insurance number",
                pattern=r"^[A-CEGHJ-PR-TW-Z]{2}[0-9]{6}[A-D]$",
            )
        ),
        Column(
            "survey_year",
            "integer",
            "content",
            "Year of the survey",
            required=True,
            minimum=1990,
            maximum=2100,
        ),
        Column(
            "employer_id",
            "string",
            "content",
            "Employer (enterprise reference)",
            required=True,
            pattern=r"^EMP[0-9]{6}$",
        ),
        Column(
            "weekly_pay",
            "number",
            "content",
            "Gross weekly pay (GBP)",
            required=True,
            minimum=0,
            maximum=100000,
        ),
        Column(
            "paid_hours",
            "number",
            "content",
            "Paid hours per week",
            required=True,
            minimum=0,
            maximum=100,
        ),
        Column(
            "occupation_skill",
            "code",
            "content",
            "Occupation skill level (SOC)",
            required=True,
            codes=_codes(dict(SKILL_LEVELS)),
        ),
        Column(
            "contract",
            "code",
            "content",
            "Contract type",
            required=True,
            codes=_codes(dict(CONTRACTS)),
        ),
        _area(),
    ),
)

CENSUS_2021 = Dataset(
    name="census_2021",
    title="Census 2021 extract",
    provider="Office for National Statistics",
    description="One row per usual resident aged 16 or over on census day (21 March 2021).",
    yearly=False,
    columns=(
        *_person_identifiers(),
        Column(
            "country_of_birth",
            "code",
            "content",
            "Country of birth",
            required=True,
            codes=_codes(dict(COUNTRIES_OF_BIRTH)),
        ),
        Column(
            "english_proficiency",
            "code",
            "content",
            "Proficiency in English",
            required=True,
            codes=_codes(dict(ENGLISH_PROFICIENCY)),
        ),
        Column(
            "year_of_arrival",
            "integer",
            "content",
            "Year of arrival in the UK (blank if born in the UK)",
            minimum=1900,
            maximum=2021,
        ),
        Column(
            "passport_held",
            "code",
            "content",
            "Passport held",
            required=True,
            codes=_codes(dict(PASSPORTS)),
        ),
        Column(
            "national_identity",
            "code",
            "content",
            "National identity",
            required=True,
            codes=_codes(dict(NATIONAL_IDENTITIES)),
        ),
        Column("ethnicity", "code", "content", "Self-reported ethnic group", codes=ETHNICITY_CODES),
        _area(),
    ),
)

AREAS = Dataset(
    name="areas",
    title="Small areas (reference data)",
    provider="Office for National Statistics (public)",
    description="Public reference data: each small area's local authority, deprivation "
    "rank (1 = most deprived) and neighbours (queen contiguity).",
    yearly=False,
    columns=(
        Column(
            "area_code", "string", "content", "Small area code", required=True, pattern=AREA_PATTERN
        ),
        Column("area_name", "string", "content", "Small area name", required=True),
        Column(
            "la_code",
            "string",
            "content",
            "Local authority code",
            required=True,
            pattern=LA_PATTERN,
        ),
        Column("la_name", "string", "content", "Local authority name", required=True),
        Column(
            "deprivation_rank",
            "integer",
            "content",
            "Deprivation rank (1 = most deprived)",
            required=True,
            minimum=1,
        ),
        Column(
            "deprivation_decile",
            "integer",
            "content",
            "Deprivation decile (1 = most)",
            required=True,
            minimum=1,
            maximum=10,
        ),
        Column("x", "number", "content", "Grid easting of the centroid (km)", required=True),
        Column("y", "number", "content", "Grid northing of the centroid (km)", required=True),
        Column("neighbours", "string", "content", "Neighbouring area codes, ';'-separated"),
    ),
)

DATASETS: tuple[Dataset, ...] = (
    PUPIL_CENSUS,
    JUSTICE_OFFENCES,
    CLA_EPISODES,
    CIN_CENSUS,
    HOSPITAL_ADMISSIONS,
    EARNINGS_SURVEY,
    CENSUS_2021,
    AREAS,
)
BY_NAME: dict[str, Dataset] = {d.name: d for d in DATASETS}
PERSON_DATASETS: tuple[Dataset, ...] = tuple(d for d in DATASETS if d.about_persons)


def dataset_for_file(file_name: str) -> Dataset | None:
    """The dataset a provider file belongs to, judged by its name."""
    for d in DATASETS:
        if d.matches(file_name):
            return d
    return None
