"""Fit the packaged DCGAN's built-in ``age`` direction reproducibly (what ``--direction age`` fits on first use).

    OMP_NUM_THREADS=1 python scripts/fit_dcgan_age_direction.py [OUT]

Labels 2,000 samples (seed 0) with the packaged age estimator, fits the ridge direction, measures it on 200
fresh samples and saves it to OUT (default: the cache entry ``--direction age`` reads, so later commands
start at once). The same seed gives the same direction on the same library versions.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch


def main() -> None:
    torch.set_num_threads(1)
    from ageshift.latent import load_packaged_dcgan, measure_direction
    from ageshift.latent.scoring import packaged_age_function
    from ageshift.latent.sources import cache_dir, fit_age_direction, generator_fingerprint

    generator = load_packaged_dcgan()
    default = cache_dir() / "directions" / f"age-{generator_fingerprint(generator)}"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    start = time.perf_counter()
    direction = fit_age_direction(generator, progress=False)
    fitted = time.perf_counter() - start
    measured = measure_direction(
        direction, generator, packaged_age_function(), count=200, strengths=(1.0, 2.0)
    )
    direction.save(out)
    print(f"fitted in {fitted:.0f} s; held-out correlation {direction.fit_stats['holdout_correlation']:.2f}")
    print(f"{measured['units_per_strength']:+.2f} years per unit strength; saved to {out}")


if __name__ == "__main__":
    main()
