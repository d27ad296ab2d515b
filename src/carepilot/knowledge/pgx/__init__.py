"""Pharmacogenomics: star-allele calling from VCF, phenotype translation, CPIC drug guidance as Insights.

Pure functions over loaded tables; file reading lives only in the ``load_*`` / ``read_*`` functions.
"""
