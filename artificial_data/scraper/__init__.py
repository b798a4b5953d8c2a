"""Scraper code location (sensitive scope): raw HES -> suppressed metadata."""
