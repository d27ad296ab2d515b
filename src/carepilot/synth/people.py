"""Who the synthetic persons are: site, age, sex, race, ethnicity, language, names, address, body size.

Everything is drawn vectorised over the whole population from one numpy Generator, so a seed fixes it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np

from carepilot.synth.tables import load_table

FIRST_NAMES_FEMALE = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
    "Nancy", "Margaret", "Lisa", "Betty", "Dorothy", "Sandra", "Ashley", "Kimberly", "Donna", "Emily",
    "Michelle", "Carol", "Amanda", "Melissa", "Deborah", "Stephanie", "Rebecca", "Laura", "Katherine",
    "Christine",
    "Maria", "Guadalupe", "Rosa", "Mei", "Linh", "Priya", "Aaliyah", "Keisha", "Leilani", "Ayasha",
)  # fmt: skip
FIRST_NAMES_MALE = (
    "James", "Robert", "John", "Michael", "William", "David", "Richard", "Joseph", "Thomas", "Charles",
    "Christopher", "Daniel", "Matthew", "Anthony", "Donald", "Steven", "Andrew", "Joshua", "Kenneth", "Kevin",
    "Brian", "George", "Edward", "Ronald", "Timothy", "Jason", "Jeffrey", "Jacob", "Nicholas", "Benjamin",
    "Jose", "Juan", "Carlos", "Wei", "Minh", "Rahul", "Darnell", "Malik", "Kai", "Ahanu",
)  # fmt: skip
SURNAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
    "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis",
    "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green", "Adams",
    "Baker", "Nelson", "Carter", "Mitchell", "Roberts", "Turner", "Phillips", "Campbell", "Parker", "Evans",
)  # fmt: skip
SURNAMES_HISPANIC = (
    "Garcia", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Perez", "Sanchez", "Ramirez",
    "Torres",
    "Flores", "Rivera", "Gomez", "Diaz", "Reyes", "Morales", "Cruz", "Ortiz", "Gutierrez", "Chavez",
)  # fmt: skip
SURNAMES_ASIAN = (
    "Nguyen", "Chen", "Wang", "Li", "Zhang", "Liu", "Tran", "Kim", "Park", "Patel",
    "Singh", "Yang", "Huang", "Wu", "Le", "Pham", "Choi", "Lin", "Shah", "Tanaka",
)  # fmt: skip
STREETS = (
    "Oak St", "Maple Ave", "Cedar Rd", "Pine St", "Elm St", "Washington Ave", "Lake Dr", "Hill Rd",
    "Park Ave", "Main St", "Sunset Blvd", "River Rd", "Church St", "Highland Ave", "Mill Rd", "Forest Dr",
)  # fmt: skip

# BCP-47 language codes and how often each is preferred, by group (ACS 2019 language spoken at home).
LANGUAGES = {
    "en": ("en-US", "English (United States)"),
    "es": ("es", "Spanish"),
    "zh": ("zh", "Chinese"),
    "vi": ("vi", "Vietnamese"),
    "ko": ("ko", "Korean"),
}

RACE_KEYS = ("white", "black", "asian", "aian", "nhpi")
ANCESTRY_GROUPS = ("european", "african", "east_asian", "latino")


@dataclass
class People:
    """Column arrays, one row per person (index = person number)."""

    patient_id: np.ndarray  # str
    person_id: np.ndarray  # str
    site: np.ndarray  # int
    age: np.ndarray  # float, years at the end of the record window
    female: np.ndarray  # bool
    race: np.ndarray  # str key in RACE_KEYS
    hispanic: np.ndarray  # bool
    ancestry: np.ndarray  # str key in ANCESTRY_GROUPS (for allele frequencies)
    language: np.ndarray  # str key in LANGUAGES
    given: np.ndarray  # str
    family: np.ndarray  # str
    birth_date: np.ndarray  # datetime64[D]
    street: np.ndarray  # str
    phone: np.ndarray  # str
    mrn: np.ndarray  # str
    height_cm: np.ndarray
    bmi: np.ndarray
    adherence: np.ndarray  # proportion of days covered a person achieves when a drug is prescribed

    @property
    def n(self) -> int:
        return len(self.patient_id)

    @property
    def weight_kg(self) -> np.ndarray:
        return self.bmi * (self.height_cm / 100.0) ** 2


def uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random version-4 UUID strings drawn from ``rng`` (deterministic per seed)."""
    raw = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64)
    out = np.empty(n, dtype=object)
    for i in range(n):
        value = (int(raw[i, 0]) << 64) | int(raw[i, 1])
        out[i] = str(uuid.UUID(int=value, version=4))
    return out


def site_profiles(k: int) -> list[dict]:
    """The first ``k`` site profiles, cycling the table (a repeated profile gets a numbered name)."""
    table = load_table("population")["sites"]
    out = []
    for i in range(k):
        profile = dict(table[i % len(table)])
        if i >= len(table):
            profile["name"] = f"{profile['name']} {i // len(table) + 1}"
        out.append(profile)
    return out


def sample_people(rng: np.random.Generator, n: int, n_sites: int, end: np.datetime64) -> People:
    """Draw ``n`` persons across ``n_sites`` sites with each site's case mix."""
    table = load_table("population")
    sites = site_profiles(n_sites)
    site_w = np.array([s["weight"] for s in sites], dtype=float)
    site = rng.choice(n_sites, size=n, p=site_w / site_w.sum())

    bands = np.array(table["age"]["bands"], dtype=float)
    band_w = np.array(table["age"]["weights"], dtype=float)
    band = rng.choice(len(bands), size=n, p=band_w / band_w.sum())
    age = bands[band, 0] + rng.random(n) * (bands[band, 1] - bands[band, 0])
    age = np.clip(age + np.array([s["age_shift"] for s in sites])[site], 18.0, 95.0)

    female = rng.random(n) < np.where(age > 75, 0.58, 0.51)  # women outlive men (Census 2020)

    race = np.empty(n, dtype=object)
    hispanic = np.zeros(n, dtype=bool)
    u_race = rng.random(n)
    u_hisp = rng.random(n)
    for k, profile in enumerate(sites):
        idx = site == k
        probs = np.array([profile["race"].get(r, 0.0) for r in RACE_KEYS])
        cum = np.cumsum(probs / probs.sum())
        race[idx] = np.array(RACE_KEYS, dtype=object)[np.searchsorted(cum, u_race[idx], side="right").clip(0, 4)]
        hispanic[idx] = u_hisp[idx] < profile["hispanic"]

    ancestry = np.where(
        hispanic | (race == "aian"),
        "latino",
        np.where(
            race == "black",
            "african",
            np.where((race == "asian") | (race == "nhpi"), "east_asian", "european"),
        ),
    ).astype(object)

    u_lang = rng.random(n)
    language = np.full(n, "en", dtype=object)
    language[hispanic & (u_lang < 0.38)] = "es"  # ACS 2019: ~38% of Hispanic adults prefer Spanish
    asian = race == "asian"
    language[asian & (u_lang < 0.15)] = "zh"
    language[asian & (u_lang >= 0.15) & (u_lang < 0.22)] = "vi"
    language[asian & (u_lang >= 0.22) & (u_lang < 0.27)] = "ko"

    given = np.where(
        female,
        np.array(FIRST_NAMES_FEMALE, dtype=object)[rng.integers(0, len(FIRST_NAMES_FEMALE), n)],
        np.array(FIRST_NAMES_MALE, dtype=object)[rng.integers(0, len(FIRST_NAMES_MALE), n)],
    )
    family = np.array(SURNAMES, dtype=object)[rng.integers(0, len(SURNAMES), n)]
    family = np.where(
        hispanic,
        np.array(SURNAMES_HISPANIC, dtype=object)[rng.integers(0, len(SURNAMES_HISPANIC), n)],
        family,
    )
    family = np.where(asian, np.array(SURNAMES_ASIAN, dtype=object)[rng.integers(0, len(SURNAMES_ASIAN), n)], family)

    birth_date = end - (age * 365.25).astype("timedelta64[D]")
    street_no = rng.integers(1, 9999, n)
    street_name = np.array(STREETS, dtype=object)[rng.integers(0, len(STREETS), n)]
    street = np.array([f"{a} {b}" for a, b in zip(street_no, street_name, strict=True)], dtype=object)
    phone_digits = rng.integers(2_000_000, 9_999_999, n)
    phone = np.array([f"555-{d // 10000:03d}-{d % 10000:04d}" for d in phone_digits], dtype=object)
    mrn_numbers = rng.permutation(n) + 1_000_000 + rng.integers(0, 1_000_000)
    mrn = np.array([f"M{v:08d}" for v in mrn_numbers], dtype=object)

    # NHANES 2015-2018 anthropometry (Fryar et al., NCHS Vital Health Stat 3(46), 2021): mean height 175.4 cm
    # men, 161.5 cm women (SD ~7); Asian adults ~5 cm shorter. BMI mean 29.6, SD ~6.5, lognormal-ish.
    height = np.where(female, 161.5, 175.4) + rng.normal(0.0, 7.0, n) - np.where(asian, 5.0, 0.0)
    bmi = np.exp(rng.normal(np.log(28.5), 0.20, n)) - np.where(asian, 2.5, 0.0) - np.where(age > 75, 1.5, 0.0)
    bmi = np.clip(bmi, 16.0, 60.0)
    # Adherence (PDC) ~ Beta(4, 1.3): mean 0.75, ~65% adherent at PDC >= 0.8 (Osterberg & Blaschke, NEJM
    # 2005).
    adherence = rng.beta(4.0, 1.3, n)

    patient_id = uuids(rng, n)
    person_id = np.array([f"person-{i:07d}" for i in range(n)], dtype=object)
    return People(
        patient_id=patient_id,
        person_id=person_id,
        site=site,
        age=age,
        female=female,
        race=race,
        hispanic=hispanic,
        ancestry=ancestry,
        language=language,
        given=given,
        family=family,
        birth_date=birth_date,
        street=street,
        phone=phone,
        mrn=mrn,
        height_cm=np.round(height, 1),
        bmi=bmi,
        adherence=adherence,
    )


def age_band(age: np.ndarray) -> np.ndarray:
    """Index of the prevalence age band: 0 = 18-44, 1 = 45-64, 2 = 65+."""
    return np.digitize(age, [45.0, 65.0])
