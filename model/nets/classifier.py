"""Attribute classifier for the demo faces (facesjs renders, 64x64).

One small CNN, one output per attribute: binary attributes give a logit (sigmoid > 0.5 = present), regression
attributes give the standardised value ((x - mean) / std over the training labels; mean/std are in the JSON).
The ONNX graph maps `image` [N, 3, 64, 64] (RGB in [-1, 1]) -> `logits` [N, A] in the order of
`attributes` in the JSON (the manifest's `classifier.attributes`).

Trained on the renders with light degradations (blur, noise, small shifts, colour jitter) so that it also reads
GAN samples. Accuracy is measured on the held-out split (data/faces-64/heldout_*), never trained on:
binary -> accuracy at threshold 0; regression -> R^2 (stored as `accuracy` too, and as `r2`).

Commands:
    nice -n 15 /usr/bin/python3 -m model.nets.classifier train          # -> model/checkpoints/classifier64.{pt,onnx,json}
    /usr/bin/python3 -m model.nets.classifier eval                      # held-out metrics of the saved model
    /usr/bin/python3 -m model.nets.classifier export                    # ONNX + ORT fixture again from .pt
    node scripts/faces/check_classifier_onnx.mjs                   # onnxruntime-node vs PyTorch reference
"""
import argparse
import json
import os
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# (name in data/faces-R/labels.json, kind, human label)
ATTRIBUTES = [
    ('male', 'binary', 'Male'),
    ('smile', 'binary', 'Smile'),
    ('mouth_open', 'binary', 'Mouth open'),
    ('glasses', 'binary', 'Glasses'),
    ('facemask', 'binary', 'Face mask'),
    ('facial_hair', 'binary', 'Facial hair'),
    ('hat', 'binary', 'Hat'),
    ('headband', 'binary', 'Headband'),
    ('accessory', 'binary', 'Any accessory'),
    ('bald', 'binary', 'Bald'),
    ('light_hair', 'binary', 'Light hair'),
    ('long_hair', 'binary', 'Long hair'),
    ('dark_skin', 'binary', 'Dark skin'),
    ('eye_line', 'binary', 'Eye lines'),
    ('smile_line', 'binary', 'Smile lines'),
    ('shaved', 'binary', 'Shaved head'),
    ('fatness', 'regression', 'Face width'),
    ('skin_lum', 'regression', 'Skin lightness'),
    ('hair_lum', 'regression', 'Hair lightness'),
    ('eye_angle', 'regression', 'Eye angle'),
    ('eyebrow_angle', 'regression', 'Eyebrow angle'),
    ('nose_size', 'regression', 'Nose size'),
]

DEFAULT_OUT = 'model/checkpoints/classifier64'


def conv_bn(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class AttributeNet(nn.Module):
    """~1.05 M params (4 MB), ~25 M MACs at 64x64. Input RGB in [-1, 1]."""

    def __init__(self, n_out, width=24, size=64):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            conv_bn(3, w), conv_bn(w, w, 2),                      # 32
            conv_bn(w, 2 * w), conv_bn(2 * w, 2 * w, 2),          # 16
            conv_bn(2 * w, 4 * w), conv_bn(4 * w, 4 * w, 2),      # 8
            conv_bn(4 * w, 8 * w), conv_bn(8 * w, 8 * w, 2),      # 4
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * w * (size // 16) ** 2, 128), nn.ReLU(inplace=True),
                                  nn.Dropout(0.2), nn.Linear(128, n_out))

    def forward(self, image):
        return self.head(self.features(image))

    def penultimate(self, image):
        """The 128-d activations before the last linear layer (the features a domain FID or a feature-matching loss
        reads; dropout is off in eval mode)."""
        return self.head[:-1](self.features(image))


# ---- data ---------------------------------------------------------------------------------------------------
def load_split(data_dir, split, names=None):
    meta = json.load(open(os.path.join(data_dir, 'labels.json')))
    cols = [c['name'] for c in meta['columns']]
    names = names or [a[0] for a in ATTRIBUTES]
    images = np.load(os.path.join(data_dir, f'{split}_images.npy'), mmap_mode='r')
    labels = np.load(os.path.join(data_dir, f'{split}_labels.npy'))
    y = labels[:, [cols.index(n) for n in names]].astype(np.float32)
    return images, y


def to_input(images_u8):
    """uint8 NHWC -> float NCHW in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images_u8))
    return x.permute(0, 3, 1, 2).float().div(127.5).sub(1)


def degrade(x, gen=None):
    """Random degradations so that the classifier reads GAN samples too (x in [-1, 1], NCHW)."""
    b = x.shape[0]
    # shift by up to 3 px (reflect-free: replicate edge)
    dx, dy = np.random.randint(-3, 4, 2)
    if dx or dy:
        x = F.pad(x, (3, 3, 3, 3), mode='replicate')[:, :, 3 + dy:3 + dy + x.shape[2], 3 + dx:3 + dx + x.shape[3]]
    # blur with prob 0.5 (Gaussian, sigma in [0.3, 1.2])
    if np.random.rand() < 0.5:
        s = np.random.uniform(0.3, 1.2)
        k = torch.exp(-torch.arange(-2, 3, dtype=torch.float32) ** 2 / (2 * s * s))
        k = k / k.sum()
        x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode='replicate'), k.view(1, 1, 1, 5).repeat(3, 1, 1, 1), groups=3)
        x = F.conv2d(F.pad(x, (0, 0, 2, 2), mode='replicate'), k.view(1, 1, 5, 1).repeat(3, 1, 1, 1), groups=3)
    # per-image brightness/contrast jitter and noise
    x = x * (1 + 0.1 * (torch.rand(b, 1, 1, 1) - 0.5)) + 0.1 * (torch.rand(b, 1, 1, 1) - 0.5)
    x = x + torch.randn_like(x) * torch.rand(b, 1, 1, 1) * 0.06
    return x


# ---- model I/O ----------------------------------------------------------------------------------------------
class Standardize:
    def __init__(self, kinds, mean, std):
        self.kinds, self.mean, self.std = kinds, np.asarray(mean, np.float32), np.asarray(std, np.float32)

    def targets(self, y):
        y = y.copy()
        r = np.array([k == 'regression' for k in self.kinds])
        y[:, r] = (y[:, r] - self.mean[r]) / self.std[r]
        return y


def loss_fn(logits, y, kinds_t):
    bce = F.binary_cross_entropy_with_logits(logits, y, reduction='none')
    mse = F.smooth_l1_loss(logits, y, reduction='none')
    return torch.where(kinds_t, bce, mse).mean()


def metrics(logits, y, kinds):
    """y are standardised targets (as produced by Standardize.targets)."""
    out = {}
    for j, k in enumerate(kinds):
        p, t = logits[:, j], y[:, j]
        if k == 'binary':
            acc = float(((p > 0) == (t > 0.5)).mean())
            pos = t > 0.5
            bal = float(0.5 * (((p > 0) & pos).sum() / max(pos.sum(), 1) + ((p <= 0) & ~pos).sum() / max((~pos).sum(), 1)))
            out[j] = {'accuracy': acc, 'balanced_accuracy': bal, 'positive_rate': float(pos.mean())}
        else:
            r2 = 1 - float(((p - t) ** 2).mean() / max(t.var(), 1e-8))
            out[j] = {'accuracy': r2, 'r2': r2, 'mae_std_units': float(np.abs(p - t).mean())}
    return out


def load_classifier(path=DEFAULT_OUT + '.pt'):
    from model.load.checkpoint import load_torch_file
    ck = load_torch_file(path)  # restricted unpickler: no pickled code runs
    net = AttributeNet(len(ck['attributes']), width=ck['width'], size=ck['size'])
    net.load_state_dict(ck['state_dict'])
    net.eval()
    return net, ck


@torch.no_grad()
def predict(net, x, batch=256):
    """x float NCHW in [-1, 1] -> logits [N, A] (numpy)."""
    net.eval()
    return torch.cat([net(x[i:i + batch].float()) for i in range(0, x.shape[0], batch)]).numpy()


def export_onnx(net, path, size=64):
    """An ONNX file with the graph contract's `classifier` input and output names, batch dimension free."""
    from model.export.contract_generated import GRAPH_INPUTS, GRAPH_OUTPUTS
    (image,), (logits,) = GRAPH_INPUTS['classifier'], GRAPH_OUTPUTS['classifier']
    net.eval()
    dummy = torch.zeros(1, 3, size, size)
    torch.onnx.export(net, dummy, path, input_names=[image], output_names=[logits], opset_version=17,
                      dynamic_axes={image: {0: 'N'}, logits: {0: 'N'}}, do_constant_folding=True)


def write_reference(net, images_u8, path):
    """Small JSON fixture for scripts/faces/check_classifier_onnx.mjs."""
    x = to_input(images_u8)
    with torch.no_grad():
        y = net(x).numpy()
    json.dump({'shape': list(x.shape), 'image': x.flatten().tolist(), 'logits': y.flatten().tolist(),
               'logitsShape': list(y.shape)}, open(path, 'w'))


# ---- train --------------------------------------------------------------------------------------------------
def train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    names = [a[0] for a in ATTRIBUTES]
    kinds = [a[1] for a in ATTRIBUTES]
    xtr, ytr = load_split(args.data, 'train', names)
    xte, yte = load_split(args.data, 'heldout', names)
    if args.n_train:
        xtr, ytr = xtr[:args.n_train], ytr[:args.n_train]
    reg = np.array([k == 'regression' for k in kinds])
    mean = np.where(reg, ytr.mean(0), 0).astype(np.float32)
    std = np.where(reg, ytr.std(0) + 1e-8, 1).astype(np.float32)
    st = Standardize(kinds, mean, std)
    ytr_s, yte_s = st.targets(ytr), st.targets(yte)
    kinds_t = torch.tensor([k == 'binary' for k in kinds])
    size = xtr.shape[1]

    net = AttributeNet(len(names), width=args.width, size=size)
    print(f'classifier: {sum(p.numel() for p in net.parameters()) / 1e6:.2f} M params, {len(xtr)} train, '
          f'{len(xte)} held-out, {len(names)} attributes', flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    n = len(xtr)
    steps_per_epoch = n // args.batch
    total = steps_per_epoch * args.epochs
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + np.cos(np.pi * min(s, total) / max(total, 1))))
    xte_t = to_input(xte)
    t0 = time.time()
    step = 0
    for ep in range(args.epochs):
        net.train()
        perm = np.random.permutation(n)
        run = 0.0
        for i in range(steps_per_epoch):
            idx = np.sort(perm[i * args.batch:(i + 1) * args.batch])
            x = to_input(xtr[idx])
            if np.random.rand() < 0.5:
                x = x.flip(3)  # facesjs flips features at random; no label depends on left/right
            x = degrade(x)
            y = torch.from_numpy(ytr_s[idx])
            loss = loss_fn(net(x), y, kinds_t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            run = 0.98 * run + 0.02 * loss.item() if i else loss.item()
            if step % 200 == 0:
                print(f'epoch {ep} step {step}/{total} loss {run:.4f} {time.time() - t0:.0f} s', flush=True)
        m = metrics(predict(net, xte_t), yte_s, kinds)
        print(f'epoch {ep} held-out: ' + ' '.join(f'{names[j]} {v["accuracy"]:.3f}' for j, v in m.items()), flush=True)

    m = metrics(predict(net, xte_t), yte_s, kinds)
    os.makedirs(os.path.dirname(args.out) or '.', exist_ok=True)
    torch.save({'state_dict': net.state_dict(), 'attributes': names, 'kinds': kinds, 'width': args.width,
                'size': size, 'mean': mean.tolist(), 'std': std.tolist()}, args.out + '.pt')
    export_onnx(net, args.out + '.onnx', size)
    write_reference(net, xte[:2], args.out + '.reference.json')
    info = {
        'inputs': {'image': ['N', 3, size, size], 'range': [-1, 1], 'layout': 'NCHW RGB'},
        'outputs': {'logits': ['N', len(names)]},
        'attributes': [dict(id=a[0], kind=a[1], label=a[2], **m[j],
                            **({'mean': float(mean[j]), 'std': float(std[j])} if a[1] == 'regression' else {}))
                       for j, a in enumerate(ATTRIBUTES)],
        'manifestAttributes': [{'id': a[0], 'kind': a[1], 'accuracy': round(m[j]['accuracy'], 4)}
                               for j, a in enumerate(ATTRIBUTES)],
        'notes': 'binary: logit > 0 means present, accuracy at that threshold on the held-out split; regression: '
                 'output = (value - mean) / std, accuracy = R^2 on the held-out split.',
        'heldout': len(xte), 'train': n, 'epochs': args.epochs, 'seconds': round(time.time() - t0, 1),
        'data': os.path.abspath(args.data) if False else args.data,
    }
    json.dump(info, open(args.out + '.json', 'w'), indent=1)
    print(json.dumps(info['manifestAttributes']), flush=True)
    print(f'wrote {args.out}.pt/.onnx/.json in {time.time() - t0:.0f} s', flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('cmd', choices=['train', 'eval', 'export'])
    ap.add_argument('--data', default='data/faces-64')
    ap.add_argument('--out', default=DEFAULT_OUT)
    ap.add_argument('--epochs', type=int, default=4)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--lr', type=float, default=3e-3)
    ap.add_argument('--width', type=int, default=24)
    ap.add_argument('--n-train', type=int, default=0, help='use only the first N training faces (0 = all)')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args(argv)
    if args.cmd == 'train':
        train(args)
    elif args.cmd == 'eval':
        net, ck = load_classifier(args.out + '.pt')
        xte, yte = load_split(args.data, 'heldout', ck['attributes'])
        st = Standardize(ck['kinds'], ck['mean'], ck['std'])
        m = metrics(predict(net, to_input(xte)), st.targets(yte), ck['kinds'])
        for j, a in enumerate(ck['attributes']):
            print(a, json.dumps(m[j]))
    else:
        net, ck = load_classifier(args.out + '.pt')
        export_onnx(net, args.out + '.onnx', ck['size'])
        xte, _ = load_split(args.data, 'heldout', ck['attributes'])
        write_reference(net, xte[:2], args.out + '.reference.json')
        print('wrote', args.out + '.onnx', args.out + '.reference.json')


if __name__ == '__main__':
    main()
