#!/usr/bin/env python3
"""Do a policy's attention points say where the task is? A linear probe.

For each recorded episode, takes the policy's attention points at the first
tick (`/policy/attention`) and the arm's pose at `--at` seconds (the grasp, for
the corner fold), fits a ridge regression from points to pose, and prints its
leave-one-out RMS next to the pose's spread: a probe no better than the spread
means the points carry nothing about the scene that decides the pose. The same
probe on simple hand-made features of the first camera frame (where the
saturated towel lies on the grey table) shows how much the frame itself carries.

    kotoba eval POLICY --spec SPEC --record DIR   # variant "shadow", training seeds
    .venv/bin/python scripts/analysis/attention_probe.py DIR [--at 2.5] [--joints 0 5] [--coords 10 11 12 13]

Episodes without attention points (demonstrations) get the frame probe only.
"""
import argparse
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader


def episode(path, at, joints):
    att, frame, js = None, None, []
    with AnyReader([path]) as r:
        for c, t, raw in r.messages():
            if c.topic == "/policy/attention" and att is None:
                att = np.array(r.deserialize(raw, c.msgtype).data)
                att = att if att.size else None  # a replayed demonstration attends to nothing
            elif c.topic == "/camera/image_raw" and frame is None:
                m = r.deserialize(raw, c.msgtype)
                frame = np.frombuffer(m.data, np.uint8).reshape(m.height, m.width, -1)[:, :, :3] / 255.0
            elif c.topic == "/joint_states":
                js.append((t / 1e9, np.array(r.deserialize(raw, c.msgtype).position)))
    t0 = js[0][0]
    pose = min(js, key=lambda s: abs(s[0] - t0 - at))[1][joints]
    return att, frame, pose


def frame_features(rgb):
    """Centroid and extreme points of the saturated (towel) pixels."""
    sat = rgb.max(2) - rgb.min(2)
    ys, xs = np.nonzero(sat > 0.25)
    if len(xs) == 0:
        return np.zeros(8)
    return np.array([xs.mean(), ys.mean(), xs.min(), xs.max(), ys.min(), ys.max(), (xs + ys).min(), (xs - ys).max()])


def ridge(x, y, lam=1e-3):
    """Weights of a ridge fit of y on [x, 1] (the last row is the intercept)."""
    a = np.c_[x, np.ones(len(x))]
    return np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ y)


def predict(w, x):
    return np.c_[x, np.ones(len(x))] @ w


def loo_rms(x, y, lam=1e-3):
    errs = []
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        errs.append(predict(ridge(x[keep], y[keep], lam), x[i:i + 1])[0] - y[i])
    return np.sqrt((np.array(errs) ** 2).mean(0))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", type=Path, help="a dataset folder (episode_* inside)")
    p.add_argument("--at", type=float, default=2.5, help="time of the pose to predict (s)")
    p.add_argument("--joints", type=int, nargs="+", default=[0, 5], help="joint indices of that pose")
    p.add_argument("--coords", type=int, nargs="+", help="attention coordinates to probe (x0 y0 x1 ...; default all), e.g. the goal points'")
    a = p.parse_args()
    eps = [episode(e, a.at, a.joints) for e in sorted(a.dataset.glob("episode_*"))]
    if len(eps) < 4:
        raise SystemExit(f"{a.dataset}: {len(eps)} episodes; the probe needs at least 4")
    y = np.array([e[2] for e in eps])
    print(f"{len(eps)} episodes; pose at {a.at} s, joints {a.joints}")
    print(f"  spread (std)             {np.round(y.std(0), 3)}")
    if all(e[0] is not None for e in eps):
        x = np.array([e[0] for e in eps])
        x = x[:, a.coords] if a.coords else x
        print(f"  attention points, LOO    {np.round(loo_rms(x, y), 3)}   (points' std {np.round(x.std(0), 2)})")
    if all(e[1] is not None for e in eps):
        x = np.array([frame_features(e[1]) for e in eps])
        print(f"  frame features, LOO      {np.round(loo_rms(x, y), 3)}")


if __name__ == "__main__":
    main()
