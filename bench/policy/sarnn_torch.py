"""PyTorch peer for `kotoba bench policy`: the same language-conditioned SARNN as
policies/dpl (EIPL SARNN + language latent, concat conditioning, next-label head),
timed the same way: batch-1 online step, one training step (full BPTT + Adam) on
batch x seq_len sequences, and one error-regression tick (window x iterations).

Prints one JSON line. Not run by CI; installed by scripts/setup_policy_bench.sh.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def leaky(x):
    return F.leaky_relu(x, 0.3)


class Sarnn(nn.Module):
    def __init__(self, joints, embed_dim, labels, k=5, hidden=50, lang_dim=16, im=64, temperature=1e-4, heatmap=0.1):
        super().__init__()
        self.k, self.hidden, self.temperature, self.heatmap = k, hidden, temperature, heatmap
        conv = lambda i, o: nn.Conv2d(i, o, 3, 1, 0)
        self.pos_encoder = nn.ModuleList([conv(3, 16), conv(16, 32), conv(32, k)])
        self.im_encoder = nn.ModuleList([conv(3, 16), conv(16, 32), conv(32, k)])
        # EIPL's decoder: stride-1 transposed convolutions (58 -> 64).
        convt = lambda i, o: nn.ConvTranspose2d(i, o, 3, 1, 0)
        self.decoder_image = nn.ModuleList([convt(k, 32), convt(32, 16), convt(16, 3)])
        self.lang_proj = nn.Linear(2 * embed_dim, lang_dim)
        self.rec = nn.LSTMCell(2 * k + joints + lang_dim, hidden)
        self.decoder_joint = nn.Linear(hidden, joints)
        self.decoder_point = nn.Linear(hidden, 2 * k)
        self.label_head = nn.Linear(hidden, labels)
        f = im - 6
        ys, xs = torch.meshgrid(torch.linspace(0, 1, f), torch.linspace(0, 1, f), indexing="ij")
        self.register_buffer("grid", torch.stack([xs.reshape(-1), ys.reshape(-1)], 1))
        self.f = f

    def encode(self, img):
        p = img
        for c in self.pos_encoder:
            p = leaky(c(p))
        q = img
        for c in self.im_encoder:
            q = leaky(c(q))
        n = p.shape[0]
        att = torch.softmax(p.reshape(n * self.k, -1) / self.temperature, -1)
        return (att @ self.grid).reshape(n, 2 * self.k), q

    def decode_image(self, pts, feat):
        n = pts.shape[0]
        d = ((self.grid.unsqueeze(0) - pts.reshape(n * self.k, 1, 2)) ** 2).sum(-1)
        x = torch.exp(-d / self.heatmap).reshape(n, self.k, self.f, self.f) * feat
        for c in self.decoder_image:
            x = leaky(c(x))
        return x

    def core_input(self, pts, joints, z):
        return torch.cat([pts, joints, z], 1)

    def heads(self, h):
        return leaky(self.decoder_joint(h)), leaky(self.decoder_point(h)), self.label_head(h)

    def forward_seq(self, images, joints, instr, labels):
        b, t, d = joints.shape
        pts, feat = self.encode(images)
        e = instr.shape[-1]
        z = torch.tanh(self.lang_proj(torch.cat([instr.unsqueeze(1).expand(b, t, e).reshape(b * t, e), labels.reshape(b * t, e)], 1)))
        x = self.core_input(pts, joints.reshape(b * t, d), z).reshape(b, t, -1)
        h = torch.zeros(b, self.hidden)
        c = torch.zeros(b, self.hidden)
        hs = []
        for s in range(t):
            h, c = self.rec(x[:, s], (h, c))
            hs.append(h)
        hcat = torch.stack(hs, 1).reshape(b * t, self.hidden)
        yj, yp, logits = self.heads(hcat)
        img = self.decode_image(yp, feat)
        return img, yj.reshape(b, t, d), pts.reshape(b, t, -1), yp.reshape(b, t, -1), logits.reshape(b, t, -1)


def median_ms(fn, warm, n):
    for _ in range(warm):
        fn()
    v = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        v.append((time.perf_counter() - t) * 1e3)
    return statistics.median(v)


def main():
    ap = argparse.ArgumentParser()
    for name, default in [("threads", 2), ("batch", 5), ("seq-len", 20), ("joints", 8), ("embed-dim", 384), ("labels", 4),
                          ("infer-iters", 200), ("train-iters", 10), ("er-ticks", 30), ("er-window", 10), ("er-iterations", 20)]:
        ap.add_argument("--" + name, type=int, default=default)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = Sarnn(a.joints, a.embed_dim, a.labels)
    b, t, d, e = a.batch, a.seq_len, a.joints, a.embed_dim

    # Online step, batch 1, with input_param blending as in the Rust runtime.
    img = torch.rand(1, 3, 64, 64)
    jnt = torch.rand(1, d)
    instr = torch.randn(1, e)
    label = torch.randn(1, e)
    table = torch.randn(a.labels, e)
    state = {"h": torch.zeros(1, m.hidden), "c": torch.zeros(1, m.hidden), "img": None, "jnt": None}

    def step(er=None):
        with torch.no_grad():
            x_img = img if state["img"] is None else 0.8 * img + 0.2 * state["img"]
            x_j = jnt if state["jnt"] is None else 0.8 * jnt + 0.2 * state["jnt"]
            pts, feat = m.encode(x_img)
            z = torch.tanh(m.lang_proj(torch.cat([instr, label], 1)))
        if er is not None:
            z = er(pts, x_j, z)
        with torch.no_grad():
            h, c = m.rec(m.core_input(pts, x_j, z), (state["h"], state["c"]))
            yj, yp, logits = m.heads(h)
            state.update(h=h, c=c, img=m.decode_image(yp, feat), jnt=yj)
            _ = torch.softmax(logits, -1) @ table

    infer_ms = median_ms(step, 10, a.infer_iters)

    # Training step: batch x seq, full BPTT, Adam(eps=1e-7).
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)
    images = torch.rand(b * t, 3, 64, 64)
    joints = torch.rand(b, t, d)
    instr_b = torch.randn(b, e)
    labels_b = torch.randn(b, t, e)
    label_idx = torch.randint(0, a.labels, (b, t))

    def train_step():
        opt.zero_grad()
        y_img, yj, enc, dec, logits = m.forward_seq(images, joints, instr_b, labels_b)
        n = t - 1
        l_img = F.mse_loss(y_img.reshape(b, t, -1)[:, :n], images.reshape(b, t, -1)[:, 1:])
        l_j = F.mse_loss(yj[:, :n], joints[:, 1:])
        l_p = F.mse_loss(dec[:, :n], enc[:, 1:])
        l_l = F.cross_entropy(logits[:, :n].reshape(b * n, -1), label_idx[:, 1:].reshape(-1))
        (0.1 * l_img + l_j + 0.1 * l_p + 0.1 * l_l).backward()
        opt.step()

    train_ms = median_ms(train_step, 1, a.train_iters)

    # Error regression: window of (pts, joints, z), latent = start state + z offset.
    for p in m.parameters():
        p.requires_grad_(False)
    win = []
    reg = {"dz": torch.zeros(1, 16, requires_grad=True), "dh": torch.zeros(1, m.hidden, requires_grad=True),
           "dc": torch.zeros(1, m.hidden, requires_grad=True), "h0": torch.zeros(1, m.hidden), "c0": torch.zeros(1, m.hidden)}
    er_opt = torch.optim.Adam([reg["dz"], reg["dh"], reg["dc"]], lr=0.05)

    def er(pts, x_j, z):
        win.append((pts, x_j, z))
        if len(win) > a.er_window + 1:
            p0, j0, z0 = win.pop(0)
            with torch.no_grad():
                reg["h0"], reg["c0"] = m.rec(m.core_input(p0, j0, z0 + reg["dz"]), (reg["h0"], reg["c0"]))
        n = len(win) - 1
        if n >= 1:
            P = torch.cat([w[0] for w in win[:n]])
            J = torch.cat([w[1] for w in win[:n]])
            Z = torch.cat([w[2] for w in win[:n]])
            Pt = torch.cat([w[0] for w in win[1:]])
            Jt = torch.cat([w[1] for w in win[1:]])
            for _ in range(a.er_iterations):
                er_opt.zero_grad()
                x = m.core_input(P, J, Z + reg["dz"])
                gx = x @ m.rec.weight_ih.T + m.rec.bias_ih
                h, c = reg["h0"] + reg["dh"], reg["c0"] + reg["dc"]
                hs = []
                for s in range(n):
                    g = gx[s:s + 1] + h @ m.rec.weight_hh.T + m.rec.bias_hh
                    i, f, gg, o = g.chunk(4, 1)
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
                    h = torch.sigmoid(o) * torch.tanh(c)
                    hs.append(h)
                yj, yp, _ = m.heads(torch.cat(hs))
                (F.mse_loss(yj, Jt) + 0.1 * F.mse_loss(yp, Pt)).backward()
                er_opt.step()
            with torch.no_grad():
                reg["h0"] = reg["h0"] + reg["dh"]
                reg["c0"] = reg["c0"] + reg["dc"]
                reg["dh"].zero_()
                reg["dc"].zero_()
        with torch.no_grad():
            h, c = reg["h0"], reg["c0"]
            for w in win[:n]:
                h, c = m.rec(m.core_input(w[0], w[1], w[2] + reg["dz"]), (h, c))
            state["h"], state["c"] = h, c
            return (z + reg["dz"]).detach()

    er_ms = median_ms(lambda: step(er), a.er_window + 1, a.er_ticks)
    print(json.dumps({"torch_version": torch.__version__, "threads": torch.get_num_threads(), "infer_ms": infer_ms,
                      "train_seq_per_s": b / (train_ms / 1e3), "er_tick_ms": er_ms}))


if __name__ == "__main__":
    main()
