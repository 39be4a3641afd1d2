"""The robustness suite: every command against the same bad inputs and faults (see harness.py)."""
