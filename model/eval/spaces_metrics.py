"""What the latent-space comparison measures besides the classifier: reconstruction quality, the W prior and the
attribute regions.

- **Reconstruction** (`Metrics`, per face): PSNR (dB, on the [0, 1] scale), SSIM (model/nets/perceptual.PyramidSSIM's
  level-0 SSIM: 7x7 Gaussian window), the pyramid-SSIM distance (PyramidSSIM itself), LPIPS-VGG when local weights
  are given.
- **Prior** (`Prior`): Mahalanobis distance of every w_i the generator sees from the mapping's output distribution
  (mean and covariance of mapping(z) over --prior-n samples; per layer with its truncation).
- **Regions** (`region_masks`), for the change outside a localised attribute's region: mouth for smile / mouth open,
  hair for hair colour. Regions come from the training labels: where the mean image of faces with the attribute
  differs from the mean of faces without it (within each skin-colour group), dilated by 2 px.
"""
import json
import os

import numpy as np
import torch

from model.eval.faces import psnr

REGIONS = {'smile': 'smile', 'mouth_open': 'smile', 'light_hair': 'light_hair'}  # direction attribute -> mask label
REGION_NAMES = {'smile': 'mouth', 'light_hair': 'hair'}


class Metrics:
    def __init__(self, resolution, lpips=None):
        from model.nets.perceptual import PyramidSSIM
        self.pyr = PyramidSSIM(resolution).eval()
        self.lpips = lpips

    @torch.no_grad()
    def __call__(self, img, target):
        img = img.clamp(-1, 1)
        per = lambda fn: np.array([float(fn(img[i:i + 1], target[i:i + 1])) for i in range(img.shape[0])])
        out = dict(psnr=psnr(img, target).numpy(),
                   ssim=per(lambda x, y: self.pyr.ssim((x + 1) * 0.5, (y + 1) * 0.5)),
                   pyramid_ssim=per(self.pyr))
        if self.lpips is not None:
            out['lpips'] = per(self.lpips)
        return out


class Prior:
    """Mahalanobis distance of w_i from the mapping's output distribution (per layer with its truncation)."""

    def __init__(self, pm, n=20000, seed=0):
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            w = torch.cat([pm.G.mapping(torch.randn(min(4096, n - i), pm.z_dim, generator=g)) for i in range(0, n, 4096)])
            ref = pm.G.mapping(torch.randn(2000, pm.z_dim, generator=g))
        w = w.double()
        self.mu = w.mean(0)
        self.prec = torch.linalg.inv(torch.cov(w.T))
        self.w_avg, self.psi = pm.w_avg.double(), pm.psi_vec[:, 0].double()
        d = self._raw(ref.double())
        self.ref_mean, self.ref_p99 = float(d.mean()), float(torch.quantile(d, 0.99))

    def _raw(self, w):
        x = w - self.mu
        return ((x @ self.prec) * x).sum(-1).clamp_min(0).sqrt()

    def __call__(self, wplus):
        """[B, numWs, wDim] -> [B, numWs] distances (a truncated layer's w is mapped back before measuring)."""
        psi = self.psi.clamp_min(1e-6)[None, :, None]
        return self._raw(self.w_avg + (wplus.double() - self.w_avg) / psi).float()

    def summary(self, wplus):
        d = self(wplus)
        return dict(mean=round(float(d.mean()), 3), frac_beyond_p99=round(float((d > self.ref_p99).float().mean()), 4))


def _mean_image(imgs, idx, chunk=2000):
    total = np.zeros(imgs.shape[1:], np.float64)
    for i in range(0, len(idx), chunk):
        total += imgs[idx[i:i + chunk]].astype(np.float64).sum(0)
    return total / max(len(idx), 1)


@torch.no_grad()
def region_masks(data_dir, labels=('smile', 'light_hair'), n=20000, threshold=0.15, dilate=2, min_count=20):
    """{label: bool [R, R]}: pixels where the mean training image with the label differs from the mean without it
    (averaged over the skin-colour groups, so that correlated colours do not leak in), > threshold x max, dilated.
    Too few faces per group: one group; none with and without the label: an empty region."""
    from torch.nn import functional as F
    cols = [c['name'] for c in json.load(open(os.path.join(data_dir, 'labels.json')))['columns']]
    lab = np.load(os.path.join(data_dir, 'train_labels.npy'), mmap_mode='r')[:n]
    imgs = np.load(os.path.join(data_dir, 'train_images.npy'), mmap_mode='r')[:n]
    race = lab[:, cols.index('race')] if 'race' in cols else np.zeros(len(lab))
    out = {}
    for a in labels:
        y = lab[:, cols.index(a)] > 0.5
        diffs, wts = [], []
        for group in (race, np.zeros(len(lab))):
            for r in np.unique(group):
                m = group == r
                k = min((y & m).sum(), (~y & m).sum())
                if k >= min_count:
                    pos, neg = _mean_image(imgs, np.flatnonzero(y & m)), _mean_image(imgs, np.flatnonzero(~y & m))
                    diffs.append(np.abs(pos - neg).mean(-1))
                    wts.append(k)
            if diffs or min_count <= 1:
                break
            min_count = 1
        if not diffs:
            out[a] = torch.zeros(imgs.shape[1:3], dtype=torch.bool)
            continue
        d = torch.from_numpy(np.average(diffs, axis=0, weights=wts))
        mask = (d > threshold * d.max()).float()[None, None]
        out[a] = F.max_pool2d(mask, 2 * dilate + 1, 1, dilate)[0, 0] > 0
    return out
