"""Generator code location (open scope): reviewed metadata -> artificial HES, QA, publication.

This package must never import the scraper, review or simulator packages (import-linter
contract in setup.cfg): it works from released metadata alone.
"""
