"""Dagster pieces shared by the three code locations: asset keys, partitions, resources.

This package may import Dagster and ``artificial_data.common``, never a code-location package.
"""
