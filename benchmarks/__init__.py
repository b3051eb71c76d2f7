"""Benchmarks against peers (printed, never asserted); ``kqbench bench NAME`` runs one."""
