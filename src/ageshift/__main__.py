"""``python -m ageshift …`` runs the CLI (``torchrun --nproc-per-node N -m ageshift train …`` starts it per process)."""

from ageshift.cli import main

if __name__ == "__main__":
    main()
