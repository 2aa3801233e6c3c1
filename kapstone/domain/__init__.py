"""The pure clinical core: rules, calculations, scoring and statistics.

Nothing here imports Django, reads settings, touches the database or looks at the clock;
callers pass ``now``. Every refusal is a :class:`kapstone.domain.errors.DomainError` with a
stable code.
"""
