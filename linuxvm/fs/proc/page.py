"""Placeholder: filled in below."""


def register(procfs):
    pass
