"""Compiled (numba) kernels for the tracker's per-scan inner loops.

Why compiled: a scan of 100 tracks predicts ~110 ten-state rows by RK4 and their covariances
by the step's transition matrix, gates ~100 track-plot pairs and updates ~100 tracks. Written
as numpy calls over those rows each stage is tens of calls (the prediction alone ~300: four
acceleration evaluations, the Jacobian, the process noise, stacked 10x10 products), each a
few microseconds of dispatch for a few hundred flops. One loop over the rows, compiled, does
the same arithmetic without the dispatch:

* :func:`ekf_predict`: the extended filter's prediction (sub-steps, RK4, Phi P Phi^T + Q);
* :func:`ekf_update`: its update (gain, Joseph form, NIS, likelihood);
* :func:`radar_gate`, :func:`radar_innovation`: a radar's h(x), Jacobian and innovation;
* :func:`imm_mix`, :func:`mode_mixture`: IMM mixing and the combined estimate;
* :func:`moved_mode_average`, :func:`ball_pairs`, :func:`point_covariance`: the duplicate
  test's estimates, the gates' ball search, a plot's point covariance.

The formulas are those of the numpy definitions they name (MotionModel's ``rk4``,
``step_s``, ``jacobian``, ``noise``; the radar model; imm's hazard, transition matrix and
hand-overs), which stay the reference (the cubature filter and the tests use them): each
kernel is tested equal to them, states to the bit where the operations are the same, the rest
to round-off (tests/tracking). Compiled with ``cache=True``: the machine code is kept beside
this file in ``__pycache__`` (or numba's user cache where that is read-only), so a machine
compiles once (~15 s, on first use after this file changes) and later processes load it
(~0.3 s, with ~0.3 s to import numba).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from kizuna.geo.constants import WGS84_B_M
from kizuna.physics.atmosphere import _TABLE_LOG_RHO, _TABLE_STEP_M
from kizuna.physics.constants import WGS84_A_M, WGS84_GM_M3_S2, WGS84_J2, WGS84_OMEGA_RAD_S
from kizuna.tracking.motion import (  # the motion models' own figures
    _DENSITY_STEP_M,
    _DRAG_CORRELATION_S,
    _MIN_STEP_S,
    _RK4_DRAG_STABLE,
    drag_linearisation_variance,
)

Array = NDArray[np.float64]

_A = WGS84_A_M
_B = WGS84_B_M
_GM = WGS84_GM_M3_S2
_K_J2 = 1.5 * WGS84_J2 * WGS84_A_M**2  # as motion._fast_acceleration: (1.5 J2) a^2
_W = WGS84_OMEGA_RAD_S
_LOG_RHO = _TABLE_LOG_RHO  # ln(density) every _TABLE_STEP_M from 0 m (read-only below)
_STEP = _TABLE_STEP_M
# The formula of motion.drag_linearisation_variance, compiled (its machine code is inlined
# into the kernels that call it: the cache guard below checks its values).
_linearisation_variance = numba.njit(cache=True)(drag_linearisation_variance)


def kernel_array(a: Array) -> Array:
    """``a`` as the compiled kernels take it: float64, C order, writeable (numba compiles
    one specialisation per array type, and a read-only or strided array is another type);
    a copy only if ``a`` is not so already."""
    if a.dtype == np.float64 and a.flags.c_contiguous and a.flags.writeable:
        return a  # (the usual case: np.require's Python layers cost ~3 us a call)
    return np.array(a, np.float64, order="C")


@numba.njit(cache=True)
def _density(alt_m: float, log_rho: Array) -> float:
    """:func:`kizuna.physics.atmosphere.density_kg_m3`: exp of np.interp on the table
    (clamped at both ends; the same slope and offset expression as np.interp)."""
    if alt_m != alt_m:
        return math.nan
    last = log_rho.size - 1
    if alt_m <= 0.0:
        return math.exp(log_rho[0])
    if alt_m >= last * _STEP:
        return math.exp(log_rho[last])
    j = int(alt_m / _STEP)
    if j * _STEP > alt_m:
        j -= 1
    elif (j + 1) * _STEP <= alt_m:
        j += 1
    slope = (log_rho[j + 1] - log_rho[j]) / ((j + 1) * _STEP - j * _STEP)
    return math.exp(slope * (alt_m - j * _STEP) + log_rho[j])


@numba.njit(cache=True)
def _altitude(x: float, y: float, z: float, r2: float, rn: float) -> float:
    """Height above the ellipsoid along the geocentric direction (motion._altitude_m)."""
    sin2 = z * z / r2
    return rn - _A * _B / math.sqrt(_B**2 * (1.0 - sin2) + _A**2 * sin2)


@numba.njit(cache=True)
def _accel(
    r: Array, v: Array, inv_beta: float, thrust: Array, flags: tuple, log_rho: Array, out: Array
) -> None:
    """dv/dt into ``out`` (3,): gravity (point mass, + J2), frame terms, drag with k = 1/beta,
    thrust (motion._fast_acceleration; Kepler gravity alone without j2 and rotation)."""
    j2, rotation, drag, has_thrust = flags
    x, y, z = r[0], r[1], r[2]
    r2 = x * x + y * y + z * z
    rn = math.sqrt(r2)
    point_mass = -_GM / (r2 * rn)
    if j2:
        k = _K_J2 / r2
        zz = 5.0 * z * z / r2
        f_xy = point_mass * (1.0 + k * (1.0 - zz))
        f_z = point_mass * (1.0 + k * (3.0 - zz))
    else:
        f_xy = point_mass
        f_z = point_mass
    if rotation:
        f_frame = f_xy + _W * _W
        out[0] = f_frame * x + 2.0 * _W * v[1]
        out[1] = f_frame * y - 2.0 * _W * v[0]
    else:
        out[0] = f_xy * x
        out[1] = f_xy * y
    out[2] = f_z * z
    if drag:
        rho = _density(_altitude(x, y, z, r2, rn), log_rho)
        speed = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
        c = -0.5 * rho * speed * max(inv_beta, 0.0)
        for i in range(3):
            out[i] = out[i] + c * v[i]
    if has_thrust:
        for i in range(3):
            out[i] = out[i] + thrust[i]


@numba.njit(cache=True)
def _substep_row(
    xr: Array,
    Pr: Array,
    hh: float,
    q_accel: float,
    q_log_beta: float,
    jj: float,
    drag_error: float,
    linearisation: float,
    flags: tuple,
    rho_60km: float,
    vec: Array,
    mats: Array,
    xo: Array,
    Po: Array,
) -> None:
    """One sub-step of one row: state ``xr`` (n,) and covariance ``Pr`` (n, n) by ``hh`` s
    into ``xo``, ``Po`` (see :func:`ekf_predict`); ``vec`` (11, 3) and ``mats`` (4, n, n)
    are scratch."""
    _, rotation, drag, has_thrust = flags
    log_rho = _LOG_RHO
    n = xr.size
    a1, a2, a3, a4 = vec[0], vec[1], vec[2], vec[3]
    r2_, v2_, r3_, v3_, r4_, v4_ = vec[4], vec[5], vec[6], vec[7], vec[8], vec[9]
    thrust = vec[10]
    phi, A, FP = mats[0], mats[1], mats[2]
    acc = mats[3, 0]
    half = 0.5 * hh
    r = xr[0:3]
    v = xr[3:6]
    inv_beta = math.exp(-min(max(xr[6], -50.0), 50.0)) if drag else 0.0
    if has_thrust:
        thrust[:] = xr[7:10]
    # RK4 (MotionModel.rk4: l and the thrust are constant through the step).
    _accel(r, v, inv_beta, thrust, flags, log_rho, a1)
    for i in range(3):
        r2_[i] = r[i] + half * v[i]
        v2_[i] = v[i] + half * a1[i]
    _accel(r2_, v2_, inv_beta, thrust, flags, log_rho, a2)
    for i in range(3):
        r3_[i] = r[i] + half * v2_[i]
        v3_[i] = v[i] + half * a2[i]
    _accel(r3_, v3_, inv_beta, thrust, flags, log_rho, a3)
    for i in range(3):
        r4_[i] = r[i] + hh * v3_[i]
        v4_[i] = v[i] + hh * a3[i]
    _accel(r4_, v4_, inv_beta, thrust, flags, log_rho, a4)
    sixth = hh / 6.0
    xo[:] = xr
    for i in range(3):
        xo[i] = r[i] + sixth * (v[i] + 2.0 * v2_[i] + 2.0 * v3_[i] + v4_[i])
        xo[3 + i] = v[i] + sixth * (a1[i] + 2.0 * a2[i] + 2.0 * a3[i] + a4[i])
    # Jacobian at the midpoint (MotionModel.jacobian).
    mx, my, mz = 0.5 * (xr[0] + xo[0]), 0.5 * (xr[1] + xo[1]), 0.5 * (xr[2] + xo[2])
    mv0, mv1, mv2 = 0.5 * (xr[3] + xo[3]), 0.5 * (xr[4] + xo[4]), 0.5 * (xr[5] + xo[5])
    A[:, :] = 0.0
    A[0, 3] = A[1, 4] = A[2, 5] = 1.0
    if rotation:
        A[3, 0] = A[4, 1] = _W * _W
        A[3, 4] = 2.0 * _W
        A[4, 3] = -2.0 * _W
    if has_thrust:
        A[3, 7] = A[4, 8] = A[5, 9] = 1.0
    mr = (mx, my, mz)
    mvv = (mv0, mv1, mv2)
    r2 = mx * mx + my * my + mz * mz
    mu_r3 = _GM / (r2 * math.sqrt(r2))
    g3 = 3.0 * mu_r3 / r2
    for i in range(3):
        for j in range(3):
            A[3 + i, j] += g3 * (mr[i] * mr[j]) - (mu_r3 if i == j else 0.0)
    if drag:
        k = math.exp(-min(max(0.5 * (xr[6] + xo[6]), -50.0), 50.0))
        rn = math.sqrt(r2)
        alt = _altitude(mx, my, mz, r2, rn)
        rho = _density(alt, log_rho)
        drho_dh = (_density(alt + _DENSITY_STEP_M, log_rho) - rho) / _DENSITY_STEP_M
        speed = max(math.sqrt(mv0 * mv0 + mv1 * mv1 + mv2 * mv2), 1e-9)
        c = -0.5 * rho * k
        cs = c * speed
        cv = c / speed
        cr = -0.5 * k * speed * drho_dh / rn
        cl = 0.5 * rho * speed * k
        for i in range(3):
            for j in range(3):
                A[3 + i, 3 + j] += (cs if i == j else 0.0) + cv * (mvv[i] * mvv[j])
                A[3 + i, j] += (cr * mvv[i]) * mr[j]
            A[3 + i, 6] = cl * mvv[i]
    # Phi = I + A h + (A h)^2 / 2. Only A's rows 0:6 are non-zero (d r / dt = v and
    # d v / dt; l and the thrust have zero derivative), so Phi is the identity below row 6
    # and the products skip those rows. A row without thrust (a ballistic mode: thrust,
    # its covariance and its jerk noise all zero) keeps a zero thrust block: its products
    # run over the first 7 states (the terms left out are exact zeros).
    ne = n
    if has_thrust and jj == 0.0:
        idle = True
        for i in range(7, n):
            if xr[i] != 0.0:
                idle = False
            for j in range(n):
                if Pr[i, j] != 0.0:
                    idle = False
        if idle:
            ne = 7
    # (Products as sums of rows, i-k-j: the additions per element in the order of the
    # dot product, with independent inner loops.)
    for i in range(6):
        for j in range(ne):
            A[i, j] *= hh
    for i in range(6):
        for j in range(ne):
            acc[j] = 0.0
        for m in range(6):
            f = A[i, m]
            for j in range(ne):
                acc[j] += f * A[m, j]
        for j in range(ne):
            phi[i, j] = (1.0 if i == j else 0.0) + A[i, j] + 0.5 * acc[j]
    # Phi P Phi^T = FP Phi^T with FP = Phi P: symmetric, its upper triangle is formed and
    # mirrored; rows 6: of FP are P's, and so is the block below and right of row 6.
    for i in range(6):
        for j in range(ne):
            acc[j] = 0.0
        for m in range(ne):
            f = phi[i, m]
            for j in range(ne):
                acc[j] += f * Pr[m, j]
        for j in range(ne):
            FP[i, j] = acc[j]
    Po[:, :] = 0.0
    for i in range(6):
        for j in range(6):
            acc[j] = 0.0
        for m in range(ne):
            f = FP[i, m]
            for j in range(i, 6):
                acc[j] += f * phi[j, m]
        for j in range(i, 6):
            Po[i, j] = acc[j]
            Po[j, i] = acc[j]
        for j in range(6, ne):
            Po[i, j] = FP[i, j]
            Po[j, i] = FP[i, j]
    for i in range(6, ne):
        for j in range(i, ne):
            Po[i, j] = Pr[i, j]
            Po[j, i] = Pr[i, j]
    # Process noise at the step's start (MotionModel.noise).
    dt = abs(hh)
    q = q_accel
    q_l = q_log_beta
    if drag:
        rx, ry, rz = xr[0], xr[1], xr[2]
        rr = rx * rx + ry * ry + rz * rz
        vv = xr[3] * xr[3] + xr[4] * xr[4] + xr[5] * xr[5]
        rho0 = _density(_altitude(rx, ry, rz, rr, math.sqrt(rr)), log_rho)
        a_drag = 0.5 * rho0 * vv * inv_beta
        q = q + (drag_error * a_drag) ** 2 * _DRAG_CORRELATION_S
        if linearisation != 0.0:  # (the extended filter's drag linearisation noise)
            q_drag = a_drag * a_drag * _linearisation_variance(Pr[6, 6]) * dt * linearisation
            sp = max(math.sqrt(vv), 1e-9)
            for i in range(3):
                ui = xr[3 + i] / sp
                for j in range(3):
                    uij = ui * (xr[3 + j] / sp)
                    Po[i, j] += q_drag * (dt * dt * dt / 3.0) * uij
                    Po[i, 3 + j] += q_drag * (dt * dt / 2.0) * uij
                    Po[3 + i, j] += q_drag * (dt * dt / 2.0) * uij
                    Po[3 + i, 3 + j] += q_drag * dt * uij
        q_l = q_l * (rho0 / (rho0 + rho_60km))
    d2 = dt * dt
    d3 = d2 * dt
    c_rr = q * d3 / 3.0
    c_rv = q * d2 / 2.0
    c_vv = q * dt
    Po[6, 6] += q_l * dt
    if has_thrust:
        c_rr = c_rr + jj * d2 * d3 / 20.0
        c_rv = c_rv + jj * d2 * d2 / 8.0
        c_vv = c_vv + jj * d3 / 3.0
        c_ra = jj * d3 / 6.0
        c_va = jj * d2 / 2.0
        c_aa = jj * dt
        for i in range(3):
            Po[i, 7 + i] += c_ra
            Po[7 + i, i] += c_ra
            Po[3 + i, 7 + i] += c_va
            Po[7 + i, 3 + i] += c_va
            Po[7 + i, 7 + i] += c_aa
    for i in range(3):
        Po[i, i] += c_rr
        Po[i, 3 + i] += c_rv
        Po[3 + i, i] += c_rv
        Po[3 + i, 3 + i] += c_vv


@numba.njit(cache=True)
def _step_s(xr: Array, remaining: float, drag: bool) -> float:
    """The next RK4 step (s) of one row towards ``remaining`` s: MotionModel.step_s row by row
    (its regime limit by altitude, and within RK4's stability for the drag decay rate
    rho |v| / beta; where the model's scalar bound finds no row stiff, no row's rate limit is
    below its remaining time, so the two agree)."""
    x, y, z = xr[0], xr[1], xr[2]
    r2 = x * x + y * y + z * z
    alt = _altitude(x, y, z, r2, math.sqrt(r2))
    limit = 5.0 if alt > 80_000.0 else (2.0 if alt > 40_000.0 else _MIN_STEP_S)
    if drag:
        speed = math.sqrt(xr[3] * xr[3] + xr[4] * xr[4] + xr[5] * xr[5])
        rate = _density(alt, _LOG_RHO) * speed * math.exp(-min(max(xr[6], -50.0), 50.0))
        limit = min(limit, _RK4_DRAG_STABLE / max(rate, 1e-12))
    step = min(abs(remaining), limit)
    return step if remaining > 0.0 else -step


@numba.njit(cache=True)
def ekf_predict(
    x: Array,
    P: Array,
    dt: Array,
    q_accel: Array,
    q_log_beta: Array,
    q_jerk: Array,
    drag_error: Array,
    linearisation: Array,
    flags: tuple,
    rho_60km: float,
) -> tuple[Array, Array]:
    """The extended Kalman filter's prediction of every row by ``dt`` (K,) s, in one loop.

    States ``x`` (K, n) by classical RK4 (MotionModel.rk4, the same bits) in sub-steps of
    at most MotionModel.step_s (the same steps; ulps apart where drag's stability limits
    them), covariances ``P`` (K, n, n) by each sub-step's transition matrix
    Phi = I + A h + (A h)^2 / 2, A the Jacobian (MotionModel.jacobian) at the sub-step's
    midpoint, plus the process noise MotionModel.noise at its start: P' = Phi P Phi^T + Q;
    the result symmetrised. ``flags`` = (j2, rotation, drag, thrust) of the motion model
    (thrust: n = 10, the states 7:10); ``q_*``, ``drag_error`` and ``linearisation`` (K,)
    are its noise figures row by row (the drag linearisation noise from each sub-step's
    P[6, 6] at its start); ``rho_60km`` (kg/m^3) scales the ln(beta) walk. A row with
    |dt| <= 1e-9 s is not moved. Returns new arrays; the inputs are untouched.
    """
    drag = flags[2]
    k_rows, n = x.shape
    x_out = np.empty_like(x)
    P_out = np.empty_like(P)
    vec = np.zeros((11, 3))
    mats = np.empty((4, n, n))
    xa, xb = np.empty(n), np.empty(n)
    Pa, Pb = np.empty((n, n)), np.empty((n, n))
    for row in range(k_rows):
        xa[:] = x[row]
        Pa[:, :] = P[row]
        remaining = dt[row]
        while abs(remaining) > 1e-9:
            h = _step_s(xa, remaining, drag)
            _substep_row(
                xa, Pa, h, q_accel[row], q_log_beta[row], q_jerk[row], drag_error[row],
                linearisation[row], flags, rho_60km, vec, mats, xb, Pb,
            )
            xa, xb = xb, xa
            Pa, Pb = Pb, Pa
            remaining = remaining - h
        x_out[row] = xa
        Po = P_out[row]
        for i in range(n):
            for j in range(n):
                Po[i, j] = 0.5 * (Pa[i, j] + Pa[j, i])
    return x_out, P_out


_LOG_2PI = math.log(2.0 * math.pi)


@numba.njit(cache=True)
def _cholesky(S: Array, L: Array) -> None:
    """Lower Cholesky factor of 0.5 (S + S^T) into ``L`` (m, m) (its lower triangle; as
    filters.cholesky); raises numpy's LinAlgError if it is not positive definite."""
    m = S.shape[0]
    for i in range(m):
        for j in range(i + 1):
            s = 0.5 * (S[i, j] + S[j, i])
            for a in range(j):
                s -= L[i, a] * L[j, a]
            if i == j:
                if not s > 0.0:
                    raise np.linalg.LinAlgError("Matrix is not positive definite")
                L[i, i] = math.sqrt(s)
            else:
                L[i, j] = s / L[j, j]


@numba.njit(cache=True)
def ekf_update(
    x: Array, P: Array, H: Array, nu: Array, R: Array
) -> tuple[Array, Array, Array, Array, Array]:
    """The extended Kalman filter's measurement update of every row, in one compiled loop.

    ``x`` (K, n), ``P`` (K, n, n), measurement Jacobians ``H`` (K, m, n), innovations ``nu``
    (K, m) and noise ``R`` (K, m, m). Returns (x', P', S, nis, log_likelihood): the gain
    K = P H^T S^-1 with S = H P H^T + R from S's Cholesky factor L (S symmetrised first),
    x' = x + K nu, the Joseph form P' = (I - K H) P (I - K H)^T + K R K^T (symmetrised),
    nis = |L^-1 nu|^2 and the Gaussian log density of nu. Raises numpy's LinAlgError when a
    row's S is not positive definite (as np.linalg.cholesky).

    The products run over the columns of H that are not zero (a radar plot measures the
    position: 3 of 10), where I - K H differs from the identity: ~1,000 multiplications a
    row instead of ~2,800.
    """
    k_rows, n = x.shape
    m = nu.shape[1]
    x_out = np.empty_like(x)
    P_out = np.empty_like(P)
    S_out = np.empty((k_rows, m, m))
    nis = np.empty(k_rows)
    loglik = np.empty(k_rows)
    cols = np.empty(n, np.intp)
    PHt = np.empty((n, m))
    L = np.zeros((m, m))
    Li = np.zeros((m, m))
    Si = np.empty((m, m))
    G = np.empty((n, m))
    KH = np.empty((n, n))
    T = np.empty((n, n))
    KR = np.empty((n, m))
    for row in range(k_rows):
        Pr, Hr, Rr = P[row], H[row], R[row]
        c = 0
        for a in range(n):
            for i in range(m):
                if Hr[i, a] != 0.0:
                    cols[c] = a
                    c += 1
                    break
        for i in range(n):
            for j in range(m):
                s = 0.0
                for t in range(c):
                    s += Pr[i, cols[t]] * Hr[j, cols[t]]
                PHt[i, j] = s
        S = S_out[row]
        for i in range(m):
            for j in range(m):
                s = 0.0
                for t in range(c):
                    s += Hr[i, cols[t]] * PHt[cols[t], j]
                S[i, j] = s + Rr[i, j]
        _cholesky(S, L)
        # L^-1 by forward substitution, S^-1 = L^-T L^-1.
        for j in range(m):
            for i in range(m):
                if i < j:
                    Li[i, j] = 0.0
                    continue
                s = 1.0 if i == j else 0.0
                for a in range(j, i):
                    s -= L[i, a] * Li[a, j]
                Li[i, j] = s / L[i, i]
        for i in range(m):
            for j in range(m):
                s = 0.0
                for a in range(m):
                    s += Li[a, i] * Li[a, j]
                Si[i, j] = s
        # Gain and state.
        xr, xo = x[row], x_out[row]
        for i in range(n):
            s = 0.0
            for j in range(m):
                g = 0.0
                for a in range(m):
                    g += PHt[i, a] * Si[a, j]
                G[i, j] = g
                s += g * nu[row, j]
            xo[i] = xr[i] + s
        # Joseph form: T = (I - K H) P, then T (I - K H)^T + (K R) K^T, upper triangle.
        for i in range(n):
            for t in range(c):
                s = 0.0
                for a in range(m):
                    s += G[i, a] * Hr[a, cols[t]]
                KH[i, t] = s
            for j in range(m):
                s = 0.0
                for a in range(m):
                    s += G[i, a] * Rr[a, j]
                KR[i, j] = s
        for i in range(n):
            for j in range(n):
                s = Pr[i, j]
                for t in range(c):
                    s -= KH[i, t] * Pr[cols[t], j]
                T[i, j] = s
        Po = P_out[row]
        for i in range(n):
            for j in range(i, n):
                s = T[i, j]
                for t in range(c):
                    s -= T[i, cols[t]] * KH[j, t]
                for a in range(m):
                    s += KR[i, a] * G[j, a]
                Po[i, j] = s
                Po[j, i] = s
        # Normalised innovation and log likelihood.
        q = 0.0
        log_det = 0.0
        for i in range(m):
            s = 0.0
            for a in range(i + 1):
                s += Li[i, a] * nu[row, a]
            q += s * s
            log_det += math.log(L[i, i])
        nis[row] = q
        loglik[row] = -0.5 * (q + 2.0 * log_det + m * _LOG_2PI)
    return x_out, P_out, S_out, nis, loglik


@numba.njit(cache=True)
def _radar_row(rel: Array, rotation: Array, z: Array, nu: Array, D: Array, H: Array) -> None:
    """One radar plot ``z`` (range m, azimuth rad, elevation rad) of a point at ``rel`` (3,)
    ECEF m from the radar (ECEF->ENU ``rotation``): the innovation z - h(x) into ``nu``
    (azimuth wrapped into [-pi, pi)) and the Jacobian d(range, az, el)/d(r_ecef) into ``H``
    (3, 3), as measurement.radar_measure, radar_jacobian and RadarModel.residual; ``D``
    (3, 3) is scratch."""
    two_pi = 2.0 * math.pi
    e = rotation[0, 0] * rel[0] + rotation[0, 1] * rel[1] + rotation[0, 2] * rel[2]
    n = rotation[1, 0] * rel[0] + rotation[1, 1] * rel[1] + rotation[1, 2] * rel[2]
    u = rotation[2, 0] * rel[0] + rotation[2, 1] * rel[1] + rotation[2, 2] * rel[2]
    horizontal = math.hypot(e, n)
    nu[0] = z[0] - math.hypot(horizontal, u)
    nu[1] = (z[1] - math.atan2(e, n) % two_pi + math.pi) % two_pi - math.pi
    nu[2] = z[2] - math.atan2(u, horizontal)
    h2 = max(e * e + n * n, 1e-6)
    h = math.sqrt(h2)
    rho2 = h2 + u * u
    rho = math.sqrt(rho2)
    D[0, 0], D[0, 1], D[0, 2] = e / rho, n / rho, u / rho
    D[1, 0], D[1, 1], D[1, 2] = n / h2, -e / h2, 0.0
    D[2, 0], D[2, 1], D[2, 2] = -e * u / (rho2 * h), -n * u / (rho2 * h), h / rho2
    for i in range(3):
        for j in range(3):
            H[i, j] = D[i, 0] * rotation[0, j] + D[i, 1] * rotation[1, j] + D[i, 2] * rotation[2, j]


@numba.njit(cache=True)
def radar_innovation(
    x: Array, origin: Array, rotation: Array, z: Array
) -> tuple[Array, Array]:
    """Measurement Jacobians (K, 3, n) and innovations (K, 3) of radar plots ``z`` (K, 3) of
    states ``x`` (K, n >= 3) from one radar (``origin`` (3,) ECEF m, ECEF->ENU ``rotation``):
    RadarModel.jacobian and RadarModel.residual(z, RadarModel.predict(x)) in one loop."""
    k_rows, n = x.shape
    H = np.zeros((k_rows, 3, n))
    nu = np.empty((k_rows, 3))
    rel = np.empty(3)
    D = np.empty((3, 3))
    H3 = np.empty((3, 3))
    for row in range(k_rows):
        for i in range(3):
            rel[i] = x[row, i] - origin[i]
        _radar_row(rel, rotation, z[row], nu[row], D, H3)
        H[row, :, :3] = H3
    return H, nu


@numba.njit(cache=True)
def radar_gate(
    x: Array,
    P: Array,
    rows: NDArray[np.intp],
    cols: NDArray[np.intp],
    dt: Array,
    origin: Array,
    rotation: Array,
    z: Array,
    R: Array,
) -> tuple[Array, Array]:
    """The chi-square gate's figures of track-plot pairs seen from one radar, in one loop.

    Pair p is track ``rows[p]`` (state ``x`` (K, >= 6), position covariance ``P`` (K, >= 3,
    >= 3)) moved in a straight line by ``dt[p]`` s, and plot ``cols[p]`` (``z`` (N, 3) =
    range m, azimuth rad, elevation rad; noise ``R`` (N, 3, 3)), from the radar at ``origin``
    (3,) ECEF m with ECEF->ENU ``rotation`` (3, 3). Returns the normalised innovation
    squared nu^T S^-1 nu and the Gaussian log density of nu, with S = H P H^T + R, H the
    radar's Jacobian (:func:`kizuna.tracking.measurement.radar_measure` and
    ``radar_jacobian``, the azimuth innovation wrapped into [-pi, pi)). Raises numpy's
    LinAlgError for an S that is not positive definite.
    """
    n_pairs = rows.size
    d2 = np.empty(n_pairs)
    log_g = np.empty(n_pairs)
    rel = np.empty(3)
    D = np.empty((3, 3))
    H = np.empty((3, 3))
    HP = np.empty((3, 3))
    S = np.empty((3, 3))
    L = np.zeros((3, 3))
    nu = np.empty(3)
    for p in range(n_pairs):
        k, c = rows[p], cols[p]
        for i in range(3):
            rel[i] = (x[k, i] + x[k, 3 + i] * dt[p]) - origin[i]
        _radar_row(rel, rotation, z[c], nu, D, H)
        for i in range(3):
            for j in range(3):
                HP[i, j] = H[i, 0] * P[k, 0, j] + H[i, 1] * P[k, 1, j] + H[i, 2] * P[k, 2, j]
        for i in range(3):
            for j in range(3):
                HPHt = HP[i, 0] * H[j, 0] + HP[i, 1] * H[j, 1] + HP[i, 2] * H[j, 2]
                S[i, j] = HPHt + R[c, i, j]
        _cholesky(S, L)
        log_det = 0.0
        q = 0.0
        for i in range(3):
            # forward substitution, row i: y_i = (nu_i - sum_a L_ia y_a) / L_ii
            s = nu[i]
            for a in range(i):
                s -= L[i, a] * rel[a]
            rel[i] = s / L[i, i]  # (rel is free now: it holds y)
            q += rel[i] * rel[i]
            log_det += math.log(L[i, i])
        d2[p] = q
        log_g[p] = -0.5 * (q + 2.0 * log_det + 3.0 * _LOG_2PI)
    return d2, log_g


@numba.njit(cache=True)
def imm_mix(
    xm: Array, Pm: Array, mu: Array, sel: NDArray[np.intp], dt: Array, figures: tuple
) -> tuple[Array, Array, Array, Array]:
    """IMM mixing of the tracks ``sel`` (kizuna.tracking.imm.predict, in one loop) and the
    rows the filter then predicts.

    ``xm`` (K, 2, n), ``Pm`` (K, 2, n, n), ``mu`` (K, 2): modes (boost, ballistic) of K
    tracks; ``sel`` the IMM tracks; ``dt`` (K,) s. ``figures`` = (slowest and fastest burnout
    speed m/s, burnout hazard floor 1/s, tau_burn s, ln(beta) prior and its sigma, thrust
    sigma m/s^2; see kizuna.tracking.imm). Per IMM track: the burnout hazard
    (imm.burnout_rate_per_s), the transition matrix (imm.transition_matrix), predicted mode
    probabilities c_j = sum_i pi_ij mu_i, mixing weights w_i|j = pi_ij mu_i / c_j and the
    mixed estimates sum_i w_i|j x_ij, sum_i w_i|j (P_ij + d_ij d_ij^T) from the sources of
    imm._mixing_sources (ln(beta) at its prior at burnout, the thrust sigma at a relight).
    Returns the filter's rows (the boost mode of ``sel``, then the ballistic mode of every
    track, thrust zeroed), (S + K, n) and (S + K, n, n), their dt (S + K,) and c (K, 2).
    """
    v_min, v_max, floor, tau, l_prior, l_sigma, thrust_sigma = figures
    k_rows, _, n = xm.shape
    ns = sel.size
    rows_x = np.empty((ns + k_rows, n))
    rows_P = np.empty((ns + k_rows, n, n))
    rows_dt = np.empty(ns + k_rows)
    c = mu.copy()
    for k in range(k_rows):
        rows_x[ns + k] = xm[k, 1]
        rows_P[ns + k] = Pm[k, 1]
        rows_dt[ns + k] = dt[k]
    xi = np.empty((2, 2, n))
    Pi = np.empty((2, 2, n, n))
    pi = np.empty((2, 2))
    w = np.empty((2, 2))
    cap = 1.0 / tau
    for s in range(ns):
        k = sel[s]
        rows_dt[s] = dt[k]
        xb = xm[k, 0]
        speed = math.sqrt(xb[3] * xb[3] + xb[4] * xb[4] + xb[5] * xb[5])
        accel = math.sqrt(xb[7] * xb[7] + xb[8] * xb[8] + xb[9] * xb[9])
        rate = accel / max(v_max - speed, 1e-9) if speed < v_max else cap
        rate = min(rate, cap)
        if speed < v_min:
            rate = floor
        step = abs(dt[k])
        stay = math.exp(-step * rate)
        relight = min(1e-4 * step, 0.01)
        pi[0, 0], pi[0, 1] = stay, 1.0 - stay
        pi[1, 0], pi[1, 1] = relight, 1.0 - relight
        for j in range(2):
            c[k, j] = pi[0, j] * mu[k, 0] + pi[1, j] * mu[k, 1]
        for i in range(2):
            for j in range(2):
                w[i, j] = pi[i, j] * mu[k, i] / max(c[k, j], 1e-300)
        # Sources: mode i's estimate handed to mode j (imm._mixing_sources).
        for i in range(2):
            for j in range(2):
                xi[i, j] = xm[k, i]
                Pi[i, j] = Pm[k, i]
        xi[0, 1, 6] = l_prior  # burnout: ln(beta) at its prior
        Pi[0, 1, 6, :] = 0.0
        Pi[0, 1, :, 6] = 0.0
        Pi[0, 1, 6, 6] = l_sigma**2
        for a in range(7, n):  # relight: the thrust at the prior thrust sigma
            for b in range(7, n):
                Pi[1, 0, a, b] = thrust_sigma**2 if a == b else 0.0
        for j in range(2):
            out_x = rows_x[s] if j == 0 else rows_x[ns + k]
            out_P = rows_P[s] if j == 0 else rows_P[ns + k]
            for a in range(n):
                out_x[a] = w[0, j] * xi[0, j, a] + w[1, j] * xi[1, j, a]
            for a in range(n):
                d0a = xi[0, j, a] - out_x[a]
                d1a = xi[1, j, a] - out_x[a]
                for b in range(n):
                    d0b = xi[0, j, b] - out_x[b]
                    d1b = xi[1, j, b] - out_x[b]
                    out_P[a, b] = w[0, j] * (Pi[0, j, a, b] + d0a * d0b) + w[1, j] * (
                        Pi[1, j, a, b] + d1a * d1b
                    )
    for r in range(ns, ns + k_rows):  # the ballistic mode carries no thrust
        for a in range(7, n):
            rows_x[r, a] = 0.0
            for b in range(n):
                rows_P[r, a, b] = 0.0
                rows_P[r, b, a] = 0.0
    return rows_x, rows_P, rows_dt, c


@numba.njit(cache=True)
def mode_mixture(
    xm: Array, Pm: Array, mu: Array, rows: NDArray[np.intp], dim: int
) -> tuple[Array, Array]:
    """Moment-matched mixture of the modes of tracks ``rows`` (K,) over their first ``dim``
    states: x = sum_j mu_j x_j, P = sum_j mu_j (P_j + d_j d_j^T), d_j = x_j - x,
    symmetrised; a track whose probabilities are exactly (0, 1) (collapsed) is its ballistic
    mode. ``xm`` (N, 2, n), ``Pm`` (N, 2, n, n), ``mu`` (N, 2); returns (K, dim),
    (K, dim, dim) (imm.combine in one loop)."""
    k_rows = rows.size
    x = np.empty((k_rows, dim))
    P = np.empty((k_rows, dim, dim))
    d0 = np.empty(dim)
    d1 = np.empty(dim)
    T = np.empty((dim, dim))
    for k in range(k_rows):
        s = rows[k]
        m0, m1 = mu[s, 0], mu[s, 1]
        if m0 == 0.0 and m1 == 1.0:
            for a in range(dim):
                x[k, a] = xm[s, 1, a]
                for b in range(dim):
                    P[k, a, b] = 0.5 * (Pm[s, 1, a, b] + Pm[s, 1, b, a])
            continue
        for a in range(dim):
            x[k, a] = m0 * xm[s, 0, a] + m1 * xm[s, 1, a]
            d0[a] = xm[s, 0, a] - x[k, a]
            d1[a] = xm[s, 1, a] - x[k, a]
        for a in range(dim):
            for b in range(dim):
                T[a, b] = m0 * (Pm[s, 0, a, b] + d0[a] * d0[b]) + m1 * (
                    Pm[s, 1, a, b] + d1[a] * d1[b]
                )
        for a in range(dim):
            for b in range(dim):
                P[k, a, b] = 0.5 * (T[a, b] + T[b, a])
    return x, P


@numba.njit(cache=True)
def _search(xs: Array, value: float, right: bool) -> int:
    """np.searchsorted(xs, value, "right" if right else "left") on a sorted ``xs``."""
    lo, hi = 0, xs.size
    while lo < hi:
        mid = (lo + hi) // 2
        if xs[mid] < value or (right and xs[mid] == value):
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True)
def ball_pairs(
    track_points: Array, radius: Array, report_points: Array, order: NDArray[np.intp], budget: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], bool]:
    """(track, report) index pairs within each track's ``radius`` (K,) m, grouped by track
    (kizuna.tracking.association.ball_candidates' all-pairs and sweep searches, the same
    pairs in the same order).

    ``order``: the reports sorted by their first coordinate, for the sweep; empty: test
    every pair (reports in index order). The sweep tests, per track, the reports of the slab
    |x_report - x_track| <= radius (widened by a part in 1e9 and a micrometre against
    rounding) in that order; past ``budget`` candidates per point it gives up (the third
    value False) and returns no pairs.
    """
    n, m = track_points.shape[0], report_points.shape[0]
    lo = np.zeros(n, np.intp)
    counts = np.full(n, m, np.intp)
    total = n * m
    if order.size == 0:  # every pair: each track's "slab" is all reports, in index order
        order = np.arange(m)
    else:
        xs = np.empty(m)
        for j in range(m):
            xs[j] = report_points[order[j], 0]
        total = 0
        for i in range(n):
            r = radius[i]
            pad = r * 1e-9 + 1e-6
            x = track_points[i, 0]
            lo[i] = _search(xs, x - r - pad, False)
            counts[i] = _search(xs, x + r + pad, True) - lo[i]
            total += counts[i]
        if total > budget * (n + m):
            return np.empty(0, np.intp), np.empty(0, np.intp), False
    rows = np.empty(total, np.intp)
    cols = np.empty(total, np.intp)
    found = 0
    for i in range(n):
        limit = radius[i] * radius[i]
        for t in range(counts[i]):
            j = order[lo[i] + t]
            g0 = track_points[i, 0] - report_points[j, 0]
            g1 = track_points[i, 1] - report_points[j, 1]
            g2 = track_points[i, 2] - report_points[j, 2]
            if g0 * g0 + g1 * g1 + g2 * g2 <= limit:
                rows[found], cols[found] = i, j
                found += 1
    return rows[:found], cols[:found], True


@numba.njit(cache=True)
def moved_mode_average(
    xm: Array, Pm: Array, mu: Array, slots: NDArray[np.intp], dt: Array
) -> tuple[Array, Array]:
    """Mode-probability-weighted (r, v) and its covariance of tracks ``slots`` (K,), moved in
    a straight line by ``dt`` (K,) s: x = sum_j mu_j x_j[:6], P = sum_j mu_j P_j[:6, :6]
    (no spread term), then F x, F P F^T with F = [[I, dt I], [0, I]] (as
    tracker._merge_duplicates with tracker._shift). ``xm`` (N, 2, n), ``Pm`` (N, 2, n, n),
    ``mu`` (N, 2): the track table; returns (K, 6), (K, 6, 6)."""
    k_rows = slots.size
    x = np.empty((k_rows, 6))
    P = np.empty((k_rows, 6, 6))
    T = np.empty((6, 6))
    for k in range(k_rows):
        s = slots[k]
        m0, m1 = mu[s, 0], mu[s, 1]
        d = dt[k]
        for a in range(6):
            x[k, a] = m0 * xm[s, 0, a] + m1 * xm[s, 1, a]
            for b in range(6):
                T[a, b] = m0 * Pm[s, 0, a, b] + m1 * Pm[s, 1, a, b]
        for a in range(3):
            x[k, a] = x[k, a] + d * x[k, 3 + a]
        for a in range(3):  # F P: rows 0:3 take dt times rows 3:6
            for b in range(6):
                T[a, b] = T[a, b] + d * T[3 + a, b]
        for a in range(6):  # (F P) F^T: columns 0:3 take dt times columns 3:6
            for b in range(3):
                P[k, a, b] = T[a, b] + d * T[a, 3 + b]
            for b in range(3, 6):
                P[k, a, b] = T[a, b]
    return x, P


@numba.njit(cache=True)
def point_covariance(z: Array, sigma: Array, rotation: Array) -> Array:
    """ECEF covariances (K, 3, 3), m^2, of the points radar plots ``z`` (K, 3) (range m,
    azimuth rad, elevation rad) with 1-sigmas ``sigma`` (K, 3) locate, from a radar with
    ECEF->ENU ``rotation`` (3, 3): J diag(sigma^2) J^T, J = R^T d(ENU)/d(range, az, el)
    (measurement.aer_point_covariance)."""
    k_rows = z.shape[0]
    out = np.empty((k_rows, 3, 3))
    jac = np.empty((3, 3))
    J = np.empty((3, 3))
    for k in range(k_rows):
        rng, az, el = z[k, 0], z[k, 1], z[k, 2]
        ca, sa, ce, se = math.cos(az), math.sin(az), math.cos(el), math.sin(el)
        jac[0, 0], jac[1, 0], jac[2, 0] = ce * sa, ce * ca, se
        jac[0, 1], jac[1, 1], jac[2, 1] = rng * ce * ca, -rng * ce * sa, 0.0
        jac[0, 2], jac[1, 2], jac[2, 2] = -rng * se * sa, -rng * se * ca, rng * ce
        for i in range(3):
            for j in range(3):
                J[i, j] = rotation[0, i] * jac[0, j] + rotation[1, i] * jac[1, j] + (
                    rotation[2, i] * jac[2, j]
                )
        for i in range(3):
            for j in range(3):
                s = 0.0
                for a in range(3):
                    s += J[i, a] * (sigma[k, a] ** 2 * J[j, a])
                out[k, i, j] = s
    return out


# --- cache guard ---------------------------------------------------------------------------
# numba compiles module globals in as constants, and its cache is keyed on this file alone:
# a change of an imported figure (the density table, a motion-model constant, the Earth
# model) would leave the cached machine code computing with the old one. The figures as
# compiled are compared with the current ones at import; on any difference every kernel's
# cache is emptied, so the next call compiles afresh (checked by hand: flipping
# motion._DRAG_CORRELATION_S back and forth, the compiled noise follows each time).


def _figures() -> tuple[float, ...]:
    size = _LOG_RHO.size
    return (
        _A, _B, _GM, _K_J2, _W, _STEP, float(size),
        _LOG_RHO[0], _LOG_RHO[size // 3], _LOG_RHO[size // 2], _LOG_RHO[size - 1],
        _DENSITY_STEP_M, _DRAG_CORRELATION_S, _MIN_STEP_S, _RK4_DRAG_STABLE,
        _linearisation_variance(0.01), _linearisation_variance(1.0),
    )  # fmt: skip


_compiled_figures = numba.njit(cache=True)(_figures)  # the same figures, as compiled


if _compiled_figures() != _figures():
    for _kernel in list(globals().values()):
        if isinstance(_kernel, numba.core.registry.CPUDispatcher):
            _kernel._cache.flush()
    _compiled_figures.recompile()  # (and cached: the figures the kernels compile with now)
