"""The outside lab / wearable platform source: a subset of persons under new ids with demographic noise.

Noise kinds follow what record-linkage studies report for real registries (Grannis et al., AMIA 2002; Winkler,
Census 2006): nicknames, single-character typos, transposed day and month of birth, missing phone numbers.
"""

from __future__ import annotations

import numpy as np

from carepilot.synth.people import People, uuids
from carepilot.synth.record import LabPerson

DUPLICATE_RATE = 0.15  # share of persons who also appear in the lab source

NICKNAMES = {
    "William": "Bill", "Robert": "Bob", "James": "Jim", "John": "Jack", "Michael": "Mike", "Richard": "Dick",
    "Joseph": "Joe", "Thomas": "Tom", "Charles": "Chuck", "Christopher": "Chris", "Daniel": "Dan",
    "Matthew": "Matt", "Anthony": "Tony", "Donald": "Don", "Steven": "Steve", "Andrew": "Andy",
    "Joshua": "Josh",
    "Kenneth": "Ken", "Edward": "Ed", "Ronald": "Ron", "Timothy": "Tim", "Jeffrey": "Jeff",
    "Nicholas": "Nick",
    "Benjamin": "Ben", "Elizabeth": "Liz", "Patricia": "Pat", "Jennifer": "Jen", "Margaret": "Peggy",
    "Katherine": "Kate", "Rebecca": "Becky", "Deborah": "Debbie", "Kimberly": "Kim", "Susan": "Sue",
    "Dorothy": "Dot", "Barbara": "Barb", "Stephanie": "Steph", "Christine": "Chris", "Jessica": "Jess",
    "Amanda": "Mandy", "Sandra": "Sandy", "Jose": "Pepe", "Guadalupe": "Lupe", "Carlos": "Charlie",
}  # fmt: skip


def _typo(rng: np.random.Generator, text: str) -> str:
    """One keyboard-style error: substitute, delete, transpose or double a character."""
    if len(text) < 3:
        return text
    k = int(rng.integers(1, len(text) - 1))
    kind = int(rng.integers(0, 4))
    if kind == 0:
        letter = "aeioulnrst"[int(rng.integers(0, 10))]
        return text[:k] + letter + text[k + 1 :]
    if kind == 1:
        return text[:k] + text[k + 1 :]
    if kind == 2:
        return text[: k - 1] + text[k] + text[k - 1] + text[k + 1 :]
    return text[:k] + text[k] + text[k:]


def sample_lab_people(rng: np.random.Generator, people: People, rate: float = DUPLICATE_RATE) -> dict[int, LabPerson]:
    """Choose the persons in the lab source and give each a noisy copy of their demographics."""
    chosen = np.flatnonzero(rng.random(people.n) < rate)
    ids = uuids(rng, len(chosen))
    out: dict[int, LabPerson] = {}
    for k, person in enumerate(chosen):
        i = int(person)
        given = str(people.given[i])
        family = str(people.family[i])
        birth = str(people.birth_date[i])
        noise: list[str] = []
        u = rng.random(5)
        if u[0] < 0.25 and given in NICKNAMES:
            given = NICKNAMES[given]
            noise.append("nickname")
        elif u[0] > 0.92:
            given = _typo(rng, given)
            noise.append("given_typo")
        if u[1] < 0.20:
            family = _typo(rng, family)
            noise.append("family_typo")
        year, month, day = birth.split("-")
        if u[2] < 0.10 and int(day) <= 12 and day != month:
            birth = f"{year}-{day}-{month}"
            noise.append("day_month_swapped")
        phone = None if u[3] < 0.5 else str(people.phone[i])
        if u[4] < 0.3:
            given = given.upper()
            family = family.upper()
            noise.append("upper_case")
        out[i] = LabPerson(
            patient_id=str(ids[k]),
            identifier=f"L{int(rng.integers(100_000_000, 999_999_999))}",
            given=given,
            family=family,
            birth_date=birth,
            phone=phone,
            noise="+".join(noise) or "none",
        )
    return out
