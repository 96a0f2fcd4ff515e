"""A generator as the direction code sees it, and second-order statistics of (Z, W) over many samples.

`LatentModel` wraps either an exported PackModel (export time: mapping + rendering, as the app renders) or a pack
folder alone (`from_pack`: the pack's own `mapping` graph interpreted in PyTorch; no rendering).

`LatentStats` holds the means and the covariances zz, ww, zw of z on the sphere and w = mapping(z), accumulated in
float64 over chunks (memory: three d x d matrices whatever the sample count), so GANSpace's PCA of W and the W->Z
regression of any W direction come from one pass over >= 1e5 samples.
"""
import json
import os
import time

import numpy as np
import torch

from model.directions.walk import normalise


class LatentModel:
    def __init__(self, mapping, z_dim, w_dim, num_ws, first_ws, trunc_psi=1.0, trunc_layers=0, w_avg=None, pm=None):
        self._mapping, self.z_dim, self.w_dim, self.num_ws, self.first_ws = mapping, z_dim, w_dim, num_ws, first_ws
        self.pm = pm
        self.resolution = pm.G.size if pm is not None else None
        # renders for measuring edits: >= 256 px only the central half of the image (a window of the block at
        # max(16, F) px, model/nets/stylegan2.py), a quarter of the cost; its border rows see zero padding, so
        # measurements skip the outer eighth of it (`margin`)
        self.window = self.margin = None
        if pm is not None and self.resolution >= 256:
            r = max(16, pm.f_res)
            self.window, self.margin = (r, r // 4, r // 4, r // 2), self.resolution // 16
        w_avg = torch.zeros(w_dim) if w_avg is None else torch.as_tensor(w_avg, dtype=torch.float32).reshape(-1)
        self.w_avg = w_avg
        self.psi = torch.tensor([trunc_psi if i < trunc_layers else 1.0 for i in range(num_ws)])[:, None]

    @classmethod
    def from_pack_model(cls, pm):
        return cls(pm.G.mapping, pm.z_dim, pm.w_dim, pm.num_ws, pm.first_ws, pm.psi, pm.trunc_layers, pm.w_avg, pm)

    @classmethod
    def from_checkpoint(cls, checkpoint, manifest):
        """The pack's generator from its checkpoint, with the manifest's F block and truncation (no perceptual term)."""
        from model.export.graphs import PackModel
        from model.load.checkpoint import load_checkpoint
        loaded = load_checkpoint(checkpoint)
        sha = manifest.get('provenance', {}).get('checkpointSha256')
        if sha and loaded.sha256 and sha != loaded.sha256:
            raise ValueError(f'{checkpoint} is not the checkpoint of this pack (sha256 {loaded.sha256[:12]}..., '
                             f'the pack was exported from {sha[:12]}...)')
        t = manifest['truncation']
        return cls.from_pack_model(PackModel(loaded.G, loaded.w_avg, manifest['fBlock']['resolution'], t['psi'],
                                             t['layers']))

    @classmethod
    def from_pack(cls, pack_dir, manifest=None):
        """The pack's own mapping graph (mapping.onnx + weights.bin), run by model/runtime/onnx_torch.py."""
        from model.runtime.onnx_torch import OnnxTorch
        if manifest is None:
            with open(os.path.join(pack_dir, 'manifest.json')) as f:
                manifest = json.load(f)
        g = OnnxTorch(os.path.join(pack_dir, manifest['graphs']['mapping']['file']))
        name_in, name_out = g.inputs[0], g.outputs[0]
        t = manifest['truncation']
        return cls(lambda z: g.run({name_in: z})[name_out], manifest['zDim'], manifest['wDim'], manifest['numWs'],
                   manifest['fBlock']['firstWs'], t['psi'], t['layers'], t['wAvg'])

    @property
    def can_render(self):
        return self.pm is not None

    @torch.no_grad()
    def mapping(self, z, chunk=8192):
        z = torch.as_tensor(z, dtype=torch.float32)
        return torch.cat([self._mapping(z[i:i + chunk]) for i in range(0, len(z), chunk)])

    # rendering (export time only): as the app renders an edit
    @torch.no_grad()
    def wplus(self, zplus):
        """zplus [B, numWs, zDim] -> truncated W+ [B, numWs, wDim] (mapping of every z, then the pack's truncation)."""
        b = zplus.shape[0]
        w = self.mapping(zplus.reshape(-1, self.z_dim)).reshape(b, self.num_ws, self.w_dim)
        return self.w_avg + self.psi * (w - self.w_avg)

    def _batch(self):
        return max(1, (64 * 64 * 64) // (self.resolution ** 2))  # 64 at 64 px, 1 at 512 px and up

    def interior(self, image):
        m = self.margin
        return image if not m else image[..., m:-m, m:-m]

    @torch.no_grad()
    def render(self, wplus):
        b, G = self._batch(), self.pm.G
        return torch.cat([G.synthesis(wplus[i:i + b], window=self.window) for i in range(0, len(wplus), b)])

    @torch.no_grad()
    def features(self, wplus):
        b = self._batch()
        return torch.cat([self.pm.features(wplus[i:i + b]) for i in range(0, len(wplus), b)])

    @torch.no_grad()
    def render_from_f(self, f, wplus):
        b = self._batch()
        G, r = self.pm.G, self.pm.f_res
        return torch.cat([G.synthesis_from_f(f[i:i + b], wplus[i:i + b], r, window=self.window)
                          for i in range(0, len(wplus), b)])


def sample_z(n, z_dim, gen):
    return normalise(torch.randn(n, z_dim, generator=gen))


class LatentStats:
    """Means and covariances of z (on the sphere) and w = mapping(z). Covariances are of centred data (ddof 1)."""

    def __init__(self, n, mz, mw, czz, cww, czw, seconds=0.0):
        self.n, self.mz, self.mw, self.czz, self.cww, self.czw, self.seconds = n, mz, mw, czz, cww, czw, seconds
        self._czz_inv = self._A = None

    @classmethod
    def from_samples(cls, z, w):
        z, w = np.asarray(z, np.float64), np.asarray(w, np.float64)
        acc = _Accumulator(z.shape[1], w.shape[1])
        acc.add(z, w)
        return acc.result()

    @classmethod
    def sample(cls, model, n=100_000, chunk=8192, seed=0, log=None, cancel=None):
        """n z ~ N(0, I) pixel-normalised (the engine's codes), mapped in chunks of `chunk`."""
        t0 = time.time()
        gen = torch.Generator().manual_seed(seed)
        acc = _Accumulator(model.z_dim, model.w_dim)
        done = 0
        while done < n:
            if cancel is not None and cancel():
                raise KeyboardInterrupt('cancelled')
            m = min(chunk, n - done)
            z = sample_z(m, model.z_dim, gen)
            acc.add(z.double().numpy(), model.mapping(z).double().numpy())
            done += m
        st = acc.result()
        st.seconds = time.time() - t0
        if log:
            log(f'  W statistics: {n} samples, {st.seconds:.1f} s')
        return st

    def pca(self, k):
        """Top-k principal axes of W: (U [k, wDim] unit rows, variances [k], total variance). Sign: each axis's
        largest-magnitude entry is positive (the same axes on every run)."""
        var, vec = np.linalg.eigh(self.cww)
        order = np.argsort(var)[::-1][:k]
        U = vec[:, order].T.copy()
        for u in U:
            if u[np.argmax(np.abs(u))] < 0:
                u *= -1
        return U, var[order], float(var.sum())

    def sigma(self, u):
        """Spread (std) of the W coordinate (w - mean) . u."""
        u = np.asarray(u, np.float64)
        return float(np.sqrt(max(u @ self.cww @ u, 0.0)))

    def linear_map(self):
        """A [wDim, zDim] of the least-squares linear model w ~ A (z - mean z) + mean w."""
        if self._A is None:
            self._A = np.linalg.solve(self.czz, self.czw).T
        return self._A

    def regress(self, u):
        """Least squares of the W coordinate x = (w - mean) . u on z: x ~ b . (z - mean z). Returns (b, R^2).
        b / |b| is the Z direction along which x grows fastest on average (GANSpace's map back to Z)."""
        if self._czz_inv is None:
            self._czz_inv = np.linalg.inv(self.czz)
        u = np.asarray(u, np.float64)
        c = self.czw @ u
        b = self._czz_inv @ c
        var = u @ self.cww @ u
        return b, float(b @ c / var) if var > 0 else 0.0


class _Accumulator:
    """Sums of centred products in float64, shifted by the first chunk's mean (no cancellation)."""

    def __init__(self, dz, dw):
        self.n, self.sz, self.sw = 0, np.zeros(dz), np.zeros(dw)
        self.szz, self.sww, self.szw = np.zeros((dz, dz)), np.zeros((dw, dw)), np.zeros((dz, dw))
        self.shift = None

    def add(self, z, w):
        if self.shift is None:
            self.shift = (z.mean(0), w.mean(0))
        z, w = z - self.shift[0], w - self.shift[1]
        self.n += len(z)
        self.sz += z.sum(0)
        self.sw += w.sum(0)
        self.szz += z.T @ z
        self.sww += w.T @ w
        self.szw += z.T @ w

    def result(self):
        n = self.n
        mz, mw = self.sz / n, self.sw / n
        cov = lambda sab, ma, mb: (sab - n * np.outer(ma, mb)) / (n - 1)
        return LatentStats(n, mz + self.shift[0], mw + self.shift[1], cov(self.szz, mz, mz), cov(self.sww, mw, mw),
                           cov(self.szw, mz, mw))
