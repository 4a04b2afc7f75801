#!/usr/bin/env python3
"""Independent re-implementation of Pezzato's AIC update (RA-L 2020) on one
joint I q'' = u - b q' (semi-implicit Euler, h = 1 ms), tracking a 0.25 rad
sine. Plain Python, no dependencies. Prints the RMS and max error after 1 s;
`src/aic.rs` test `matches_the_python_reference` checks the Rust controller
gives the same figures on the same loop."""
import math

def run(I, b, f, amp=0.25, T=6.0, h=1e-3, kmu=11.67, ka=200.0, Pq=1.0, Pqd=1.0, Pmu=0.2, Pmup=0.1):
    q = qd = mu = mup = mupp = u = 0.0
    errs = []
    for k in range(int(round(T / h))):
        t = k * h
        mud = amp * math.sin(2 * math.pi * f * t)
        eq = Pq * (q - mu); eqd = Pqd * (qd - mup)
        emu = Pmu * (mup + mu - mud); emup = Pmup * (mupp + mup)
        dmu = mup - kmu * (emu - eq)
        dmup = mupp - kmu * (emu - eqd + emup)
        dmupp = -kmu * emup
        du = -ka * (eqd + eq)
        mu += h * dmu; mup += h * dmup; mupp += h * dmupp; u += h * du
        qd += (u - b * qd) / I * h
        q += qd * h
        if t > 1.0:
            errs.append(abs(q - mud))
    return math.sqrt(sum(e * e for e in errs) / len(errs)), max(errs)

if __name__ == "__main__":
    for f in (0.05, 0.5):
        r, m = run(0.7, 3.0, f)
        print(f"f={f} Hz: rms={r!r} max={m!r}")
