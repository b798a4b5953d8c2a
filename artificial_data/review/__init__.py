"""Review code location (admin scope): review packs, hash-bound sign-off, release."""
