"""artificial_data: anonymous artificial versions of NHS HES tables, built with Dagster.

Sub-packages:

* ``common``    – Dagster-free logic shared by every stage (dataset specs, metadata contract,
                  disclosure policy, scoped stores, sampling maths).
* ``simulator`` – stand-in raw HES for the demo and the tests (never real data).
* ``scraper``   – sensitive code location: raw HES -> suppressed metadata.
* ``review``    – admin code location: human sign-off and release of metadata.
* ``generator`` – open code location: reviewed metadata -> artificial HES, QA, publication.
"""

__version__ = "0.1.0"
