"""Tests of the whole project: dependency graph, DVC pipeline, speak, the README's claims."""
