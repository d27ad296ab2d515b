"""The CIViC loader on the real 2018 evidence dump, read in place (skipped when absent)."""

from __future__ import annotations

from carepilot.knowledge.oncology import load_civic, match_biomarker, parse_biomarker
from tests.conftest import reference


def test_civic_dump_loads_and_matches_egfr_l858r_in_nsclc():
    kb = load_civic(reference("civic_2018"))
    assert len(kb.items) > 1000
    assert all(item.level in "ABCDE" for item in kb.items)
    match = match_biomarker(parse_biomarker("EGFR L858R"), "nsclc", civic=kb)
    assert match.civic_on_label
    assert any(h.item.level == "A" and "Erlotinib" in h.item.drugs for h in match.civic_on_label)


def test_civic_exon_19_deletions_and_alk_fusions_are_normalised():
    kb = load_civic(reference("civic_2018"))
    variants = {(i.gene, i.variant) for i in kb.items}
    assert ("EGFR", "EXON 19 DELETION") in variants
    assert ("ALK", "FUSION") in variants
