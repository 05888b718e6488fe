"""Flight physics: J2 gravity, rotating Earth, atmosphere, propagation and trajectory design.

Import what you need from the modules: :mod:`.dynamics` (equations of motion),
:mod:`.propagate` (RK4 and reference integrators, impact detection), :mod:`.boost` (powered
phase, vehicles) and :mod:`.trajectory` (design for range and apogee, sampled trajectories).
"""
