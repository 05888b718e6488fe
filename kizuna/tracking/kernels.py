"""Compiled (numba) kernels for the tracker's per-scan inner loops.

Why compiled: a scan of 100 tracks predicts ~110 ten-state rows by one RK4 step and their
covariances by the step's transition matrix. Written as numpy calls over those rows that is
~300 calls a scan (four acceleration evaluations, the Jacobian, the process noise, three
stacked 10x10 products), each a few microseconds of dispatch for a few hundred flops; the
arithmetic itself is ~0.1 ms. One loop over the rows, compiled, does the same arithmetic
without the dispatch.

The formulas are those of :class:`kizuna.tracking.motion.MotionModel` (``rk4``, ``jacobian``,
``noise``), which stay the reference (the cubature filter and the tests use them): the kernel
is tested equal to them to round-off (tests/tracking/test_motion.py). Compiled with
``cache=True`` (the machine code is kept beside this file in ``__pycache__``): a process
compiles only the first time, later ones load it.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from kizuna.geo.constants import WGS84_B_M
from kizuna.physics.atmosphere import _TABLE_LOG_RHO, _TABLE_STEP_M
from kizuna.physics.constants import WGS84_A_M, WGS84_GM_M3_S2, WGS84_J2, WGS84_OMEGA_RAD_S

Array = NDArray[np.float64]

_A = WGS84_A_M
_B = WGS84_B_M
_GM = WGS84_GM_M3_S2
_K_J2 = 1.5 * WGS84_J2 * WGS84_A_M**2  # as motion._fast_acceleration: (1.5 J2) a^2
_W = WGS84_OMEGA_RAD_S
_LOG_RHO = _TABLE_LOG_RHO  # ln(density) every _TABLE_STEP_M from 0 m (read-only below)
_STEP = _TABLE_STEP_M
_DENSITY_STEP_M = 50.0  # d(rho)/dh finite difference, as motion.MotionModel.jacobian
_DRAG_CORRELATION_S = 5.0


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
def ekf_substep(
    x: Array,
    P: Array,
    h: Array,
    q_accel: Array,
    q_log_beta: Array,
    q_jerk: Array,
    drag_error: Array,
    flags: tuple,
    rho_60km: float,
) -> tuple[Array, Array]:
    """One RK4 step of states ``x`` (K, n) by ``h`` (K,) s and of covariances ``P``
    (K, n, n) by the step's transition matrix: returns new (x, P), inputs untouched.

    Phi = I + A h + (A h)^2 / 2 with A the Jacobian at the step's midpoint, P' = Phi P Phi^T
    + Q(x, |h|) (kizuna.tracking.filters: the extended filter's sub-step). ``flags`` =
    (j2, rotation, drag, thrust) of the motion model (thrust: n = 10, the states 7:10);
    ``q_*`` and ``drag_error`` (K,) are its noise densities row by row
    (:class:`kizuna.tracking.motion.MotionModel`); ``rho_60km`` (kg/m^3) scales the
    ln(beta) walk.
    """
    _, rotation, drag, has_thrust = flags
    log_rho = _LOG_RHO
    k_rows, n = x.shape
    x_out = np.empty_like(x)
    P_out = np.empty_like(P)
    acc = np.empty(n)
    a1 = np.empty(3)
    a2 = np.empty(3)
    a3 = np.empty(3)
    a4 = np.empty(3)
    r2_ = np.empty(3)
    v2_ = np.empty(3)
    r3_ = np.empty(3)
    v3_ = np.empty(3)
    r4_ = np.empty(3)
    v4_ = np.empty(3)
    thrust = np.zeros(3)
    phi = np.empty((n, n))
    A = np.empty((n, n))
    FP = np.empty((n, n))
    for row in range(k_rows):
        xr = x[row]
        hh = h[row]
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
        xo = x_out[row]
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
        if has_thrust and q_jerk[row] == 0.0:
            idle = True
            for i in range(7, n):
                if xr[i] != 0.0:
                    idle = False
                for j in range(n):
                    if P[row, i, j] != 0.0:
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
        Pr = P[row]
        for i in range(6):
            for j in range(ne):
                acc[j] = 0.0
            for m in range(ne):
                f = phi[i, m]
                for j in range(ne):
                    acc[j] += f * Pr[m, j]
            for j in range(ne):
                FP[i, j] = acc[j]
        Po = P_out[row]
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
        q = q_accel[row]
        q_l = q_log_beta[row]
        if drag:
            rx, ry, rz = xr[0], xr[1], xr[2]
            rr = rx * rx + ry * ry + rz * rz
            vv = xr[3] * xr[3] + xr[4] * xr[4] + xr[5] * xr[5]
            rho0 = _density(_altitude(rx, ry, rz, rr, math.sqrt(rr)), log_rho)
            a_drag = 0.5 * rho0 * vv * inv_beta
            q = q + (drag_error[row] * a_drag) ** 2 * _DRAG_CORRELATION_S
            q_l = q_l * (rho0 / (rho0 + rho_60km))
        d2 = dt * dt
        d3 = d2 * dt
        c_rr = q * d3 / 3.0
        c_rv = q * d2 / 2.0
        c_vv = q * dt
        Po[6, 6] += q_l * dt
        if has_thrust:
            jj = q_jerk[row]
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
    return x_out, P_out


_LOG_2PI = math.log(2.0 * math.pi)


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
        # Cholesky of 0.5 (S + S^T).
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
