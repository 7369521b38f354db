"""Shared fixtures live in ``tests.support``; this file keeps pytest's rootdir at the repository."""
