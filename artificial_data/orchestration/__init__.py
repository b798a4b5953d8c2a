"""Dagster pieces shared by the three code locations: asset keys, partitions, resources.

This package may import Dagster and ``artificial_data.common``, never a code-location package.
"""

import warnings

from dagster import PreviewWarning

# Partitioned asset checks are a preview feature of this Dagster version; both the disclosure
# checks and the QA checks rely on them so that each financial year is checked on its own.
warnings.filterwarnings("ignore", category=PreviewWarning, message=".*partitions_def.*")
