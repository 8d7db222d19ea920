"""Kubernetes outputs against a kmock API emulator on 127.0.0.1 (see conftest.py)."""
