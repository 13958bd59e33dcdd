"""Answer assist: what it searches (corpus), what it returns (models), how it ranks (service)."""
