"""The record-linkage model: which fields of a Patient are compared, how, and which pairs are ever compared.

Splink (Fellegi-Sunter with EM-estimated m and u probabilities; Fellegi & Sunter, JASA 1969; the EM approach of
Winkler, 1988) does the comparing and the training; this module only describes the model in Splink's terms and
turns a FHIR Patient into the flat record the comparisons read. It is pure: no database, no files.

Fields and levels (most specific first):

- given name: exact; same name once nicknames are resolved (the ``nicknames`` dataset: Bill -> William, plus
  Spanish hypocoristics); Jaro-Winkler >= 0.92; Damerau-Levenshtein <= 1; Jaro-Winkler >= 0.80; else.
- family name: exact; Jaro-Winkler >= 0.92; Damerau-Levenshtein <= 1; Jaro-Winkler >= 0.80; else.
- birth date: exact; day and month swapped; same year; else.
- sex, postcode, phone: exact or not.
- identifier: same value within the same identifier system; a different value in the same system; records
  whose identifiers come from different systems (an MRN against a lab number) are treated as missing, because
  two systems' numbers never agree and that says nothing about the person.

Postcode, phone and identifier are compared only when at least two sources carry them (an identifier: the same
identifier system); a field that no pair of sources shares gives EM nothing to learn from.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on

PHONE_DIGITS = re.compile(r"\D+")

RECORD_COLUMNS = (
    "unique_id",
    "source",
    "given",
    "given_names",
    "family",
    "birth_date",
    "birth_swapped",
    "birth_year",
    "sex",
    "postcode",
    "phone",
    "id_system",
    "id_value",
)


@lru_cache(maxsize=1)
def _nick_namer() -> Any:
    from nicknames import NickNamer  # imported lazily: loading the dataset costs ~50 ms

    return NickNamer()


# Spanish hypocoristics, which the English ``nicknames`` dataset lacks (common forms listed in Boyd-Bowman,
# "Cómo obra la fonética infantil en la formación de los hipocorísticos", Nueva Revista de Filología
# Hispánica 9, 1955, and in every Spanish-language naming guide); Charlie for Carlos is the anglicised form.
SPANISH_HYPOCORISTICS: dict[str, tuple[str, ...]] = {
    "pepe": ("jose",), "paco": ("francisco",), "pancho": ("francisco",), "lupe": ("guadalupe",),
    "chuy": ("jesus",), "nacho": ("ignacio",), "lalo": ("eduardo",), "memo": ("guillermo",),
    "beto": ("alberto", "roberto"), "tono": ("antonio",), "charlie": ("carlos", "charles"), "chema": ("jose",),
    "quique": ("enrique",), "lola": ("dolores",), "concha": ("concepcion",), "maite": ("maria",),
}  # fmt: skip


@lru_cache(maxsize=20_000)
def name_forms(given: str) -> tuple[str, ...]:
    """The given name and the formal names it is a nickname of, lower case and sorted (Bill -> bill, william)."""
    name = given.strip().lower()
    if not name:
        return ()
    forms = {name} | {c.lower() for c in _nick_namer().canonicals_of(name)}
    forms.update(SPANISH_HYPOCORISTICS.get(name, ()))
    return tuple(sorted(forms))


def _first(items: Any) -> dict[str, Any]:
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                return item
    return {}


def linkage_record(resource: dict[str, Any], source: str) -> dict[str, Any]:
    """The flat, normalised record of one FHIR Patient that the linkage model compares."""
    name = next((n for n in resource.get("name") or [] if isinstance(n, dict) and n.get("use") == "official"), None)
    name = name or _first(resource.get("name"))
    given_list = name.get("given") or []
    given = str(given_list[0]).strip().lower() if given_list else None
    family = str(name.get("family") or "").strip().lower() or None
    birth = str(resource.get("birthDate") or "") or None
    swapped = None
    year = None
    if birth and len(birth) == 10:
        year = birth[:4]
        swapped = f"{birth[:4]}-{birth[8:10]}-{birth[5:7]}"
    address = _first(resource.get("address"))
    postcode = str(address.get("postalCode") or "").strip().upper() or None
    phone = next(
        (t.get("value") for t in resource.get("telecom") or [] if isinstance(t, dict) and t.get("system") == "phone"),
        None,
    )
    digits = PHONE_DIGITS.sub("", str(phone)) if phone else ""
    identifier = _first(resource.get("identifier"))
    return {
        "unique_id": str(resource.get("id")),
        "source": source,
        "given": given,
        "given_names": list(name_forms(given)) if given else None,
        "family": family,
        "birth_date": birth,
        "birth_swapped": swapped,
        "birth_year": year,
        "sex": resource.get("gender"),
        "postcode": postcode,
        "phone": digits[-10:] or None,
        "id_system": identifier.get("system"),
        "id_value": identifier.get("value"),
    }


def _jaro_winkler_comparison(column: str, nickname_column: str | None = None) -> cl.CustomComparison:
    levels: list[Any] = [cll.NullLevel(column), cll.ExactMatchLevel(column)]
    if nickname_column is not None:
        levels.append(cll.ArrayIntersectLevel(nickname_column, 1).configure(label_for_charts="nickname"))
    # Damerau-Levenshtein 1 catches one-keystroke errors in short names ("lee"/"lre", "kim"/"ikm"), where
    # Jaro-Winkler falls below its thresholds.
    levels += [
        cll.JaroWinklerLevel(column, 0.92),
        cll.DamerauLevenshteinLevel(column, 1),
        cll.JaroWinklerLevel(column, 0.80),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(comparison_levels=levels, output_column_name=column)


def birth_date_comparison() -> cl.CustomComparison:
    """Exact, day/month transposed, same year, else."""
    return cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel('"birth_date_l" = "birth_swapped_r"', label_for_charts="day and month swapped"),
            cll.ExactMatchLevel("birth_year"),
            cll.ElseLevel(),
        ],
    )


def identifier_comparison() -> cl.CustomComparison:
    """Same identifier in the same system; different ones in the same system; otherwise not comparable."""
    return cl.CustomComparison(
        output_column_name="identifier",
        comparison_levels=[
            cll.CustomLevel(
                '"id_value_l" IS NULL OR "id_value_r" IS NULL OR "id_system_l" IS NULL OR "id_system_r" IS NULL '
                'OR "id_system_l" <> "id_system_r"',
                label_for_charts="not comparable",
            ).configure(is_null_level=True),
            cll.ExactMatchLevel("id_value"),
            cll.ElseLevel(),
        ],
    )


def prediction_blocking_rules() -> list[Any]:
    """Pairs ever compared: same birth date, transposed birth date, same family name and year, same phone."""
    return [
        block_on("birth_date"),
        "l.birth_date = r.birth_swapped",
        block_on("family", "birth_year"),
        block_on("given", "family"),
        block_on("phone"),
    ]


OPTIONAL_FIELDS = ("postcode", "phone", "identifier")


def comparable_fields(records: Any) -> set[str]:
    """Optional fields that at least two sources carry (a field one source never records cannot be learnt)."""
    out = set()
    for column in ("postcode", "phone"):
        if records.loc[records[column].notna(), "source"].nunique() >= 2:
            out.add(column)
    systems = records.dropna(subset=["id_system", "id_value"]).groupby("id_system")["source"].nunique()
    if (systems >= 2).any():
        out.add("identifier")
    return out


def linkage_settings(
    link_type: Literal["link_only", "link_and_dedupe", "dedupe_only"] = "link_only", fields: set[str] | None = None
) -> SettingsCreator:
    """The Splink model: comparisons and blocking (parameters are estimated per run, see ``linkage.py``).

    ``fields`` names the optional fields (postcode, phone) to compare; default all.
    """
    fields = set(OPTIONAL_FIELDS) if fields is None else fields
    optional: list[Any] = [cl.ExactMatch(f) for f in ("postcode", "phone") if f in fields]
    if "identifier" in fields:
        optional.append(identifier_comparison())
    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="unique_id",
        source_dataset_column_name="source_dataset",
        comparisons=[
            _jaro_winkler_comparison("given", "given_names"),
            _jaro_winkler_comparison("family"),
            birth_date_comparison(),
            cl.ExactMatch("sex"),
            *optional,
        ],
        blocking_rules_to_generate_predictions=prediction_blocking_rules(),
        # Capped: a level never seen among true matches (birth dates that disagree outright) drives its m
        # towards zero, and Splink refuses an m that underflows float64.
        max_iterations=12,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
