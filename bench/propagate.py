"""Propagation throughput: object-seconds of flight simulated per wall-clock second.

Runs the same ballistic flights (full force model: J2, rotating Earth, drag) two ways in one
process and prints both rates and their ratio:

* vectorised: all N objects in one ``propagate_to_impact`` call;
* per-object loop: the same function called once per object (the baseline).

The loop over 1,000 objects would take minutes, so the baseline is measured on a sample of
``--loop-sample`` objects and expressed per object-second, which is what the rate measures.

    .venv/bin/python bench/propagate.py [--objects 1,1000] [--loop-sample 40]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from kizuna.geo import enu_rotation, lla_to_ecef
from kizuna.physics.propagate import propagate_to_impact


def flights(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """N burnout states over North Korea heading east, 300-3,000 km flights."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(38.5, 41.0, n)
    lon = rng.uniform(125.0, 129.5, n)
    rot = enu_rotation(lat, lon)
    speed = rng.uniform(1800.0, 4500.0, n)
    gamma = np.radians(rng.uniform(25.0, 55.0, n))
    azimuth = np.radians(rng.uniform(60.0, 120.0, n))
    v_enu = np.stack([speed * np.cos(gamma) * np.sin(azimuth),
                      speed * np.cos(gamma) * np.cos(azimuth), speed * np.sin(gamma)], axis=-1)
    states = np.concatenate([lla_to_ecef(lat, lon, rng.uniform(50e3, 150e3, n)),
                             np.einsum("nji,nj->ni", rot, v_enu)], axis=-1)
    return states, rng.uniform(3000.0, 10000.0, n)


def rate(states: np.ndarray, betas: np.ndarray, vectorised: bool) -> tuple[float, float]:
    start = time.perf_counter()
    if vectorised:
        result = propagate_to_impact(states, 0.0, betas)
        simulated = float(result.time_s.sum())
    else:
        simulated = 0.0
        for state, beta in zip(states, betas, strict=True):
            simulated += float(propagate_to_impact(state, 0.0, beta).time_s[0])
    wall = time.perf_counter() - start
    return simulated / wall, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", default="1,1000", help="comma-separated object counts")
    parser.add_argument("--loop-sample", type=int, default=40,
                        help="objects flown one by one for the baseline rate")
    args = parser.parse_args()
    print(f"{'objects':>8} {'vectorised obj-s/s':>20} {'loop obj-s/s':>14} {'ratio':>8} "
          f"{'wall (vec)':>11}")
    for n in (int(x) for x in args.objects.split(",")):
        states, betas = flights(n)
        vec_rate, vec_wall = rate(states, betas, vectorised=True)
        sample = min(n, args.loop_sample)
        loop_rate, _ = rate(states[:sample], betas[:sample], vectorised=False)
        print(f"{n:>8} {vec_rate:>20,.0f} {loop_rate:>14,.0f} {vec_rate / loop_rate:>7.1f}x "
              f"{vec_wall:>10.2f}s")


if __name__ == "__main__":
    main()
