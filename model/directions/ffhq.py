"""The InterFaceGAN++ boundaries for StyleGAN2 FFHQ config-f (`--directions interfacegan-ffhq`).

39 attribute boundaries (CelebA attribute names), unit normals in Z, fitted by their authors (genforce/interfacegan,
commit 150882e, `boundaries/stylegan2_ffhq_z/`, MIT, Copyright (c) 2019 Yujun Shen) for NVIDIA's StyleGAN2 FFHQ
1024 generator, the network of rosinality's `stylegan2-ffhq-config-f.pt`. Shipped here as one float32 array
(assets/interfacegan-stylegan2-ffhq-z.npz: `names` (39,), `boundaries` (39, 512), the files' values unchanged) with
the MIT licence next to it, and as the app's JSON (public/directions/interfacegan-stylegan2-ffhq-z.json, written
by `python3 -m model.directions ffhq-json`). Provenance: docs/ASSETS.md.

They only fit that generator's Z. The exporter attaches them when the checkpoint has its shape (1024 px, zDim 512,
18 ws) and refuses otherwise; it cannot tell NVIDIA's FFHQ weights from other weights of that shape. Nobody here
has checked what they do (no FFHQ weights on these machines): labels and ranges follow the attribute names and
InterFaceGAN's usual span (+-3 sigma), not a measurement.
"""
import json
import os

import numpy as np

from model.directions.files import DirectionError, Incoming

SET_ID = 'interfacegan-ffhq'
HERE = os.path.dirname(os.path.abspath(__file__))
ASSET = os.path.join(HERE, 'assets', 'interfacegan-stylegan2-ffhq-z.npz')
LICENSE = os.path.join(HERE, 'assets', 'interfacegan-LICENSE')
PUBLIC_JSON = os.path.join(os.path.dirname(os.path.dirname(HERE)), 'public', 'directions',
                           'interfacegan-stylegan2-ffhq-z.json')
SHAPE = {'resolution': 1024, 'zDim': 512, 'numWs': 18}
SOURCE = ('InterFaceGAN++ boundary for StyleGAN2 FFHQ config-f (genforce/interfacegan 150882e, '
          'boundaries/stylegan2_ffhq_z/boundary_{name}.npy, MIT)')
COMMIT = '150882e69130f90f2e3bc4a6477a498ff03ab1e0'

# CelebA attribute -> slider label (the direction raises the attribute)
LABELS = {
    '5_o_Clock_Shadow': 'Stubble', 'Arched_Eyebrows': 'Arched eyebrows', 'Attractive': 'Attractive (CelebA label)',
    'Bags_Under_Eyes': 'Bags under eyes', 'Bald': 'Bald', 'Bangs': 'Bangs', 'Big_Lips': 'Big lips',
    'Big_Nose': 'Big nose', 'Black_Hair': 'Black hair', 'Blond_Hair': 'Blond hair', 'Brown_Hair': 'Brown hair',
    'Bushy_Eyebrows': 'Bushy eyebrows', 'Chubby': 'Chubby', 'Double_Chin': 'Double chin', 'Eyeglasses': 'Glasses',
    'Goatee': 'Goatee', 'Gray_Hair': 'Grey hair', 'Heavy_Makeup': 'Heavy make-up', 'High_Cheekbones': 'High cheekbones',
    'Male': 'Male', 'Mouth_Slightly_Open': 'Mouth open', 'Mustache': 'Moustache', 'Narrow_Eyes': 'Narrow eyes',
    'No_Beard': 'No beard', 'Oval_Face': 'Oval face', 'Pale_Skin': 'Pale skin', 'Pointy_Nose': 'Pointy nose',
    'Receding_Hairline': 'Receding hairline', 'Rosy_Cheeks': 'Rosy cheeks', 'Sideburns': 'Sideburns',
    'Smiling': 'Smile', 'Straight_Hair': 'Straight hair', 'Wavy_Hair': 'Wavy hair', 'Wearing_Earrings': 'Earrings',
    'Wearing_Hat': 'Hat', 'Wearing_Lipstick': 'Lipstick', 'Wearing_Necklace': 'Necklace', 'Wearing_Necktie': 'Necktie',
    'Young': 'Young',
}
RANGE = [-3.0, 3.0]


def build_asset(src_dir, out=ASSET):
    """Pack the 39 boundary_<name>.npy files of src_dir (the shared copy) into the .npz asset (values unchanged)."""
    names = sorted(LABELS)
    arrs = []
    for n in names:
        a = np.load(os.path.join(src_dir, f'boundary_{n}.npy'), allow_pickle=False)
        if a.shape != (1, 512) or a.dtype != np.float32:
            raise DirectionError(f'boundary_{n}.npy: shape {a.shape} {a.dtype}, expected (1, 512) float32')
        arrs.append(a[0])
    os.makedirs(os.path.dirname(out), exist_ok=True)
    np.savez_compressed(out, names=np.array(names), boundaries=np.stack(arrs))
    return out


def load_set():
    """-> (names [39], boundaries float32 [39, 512])."""
    with np.load(ASSET, allow_pickle=False) as z:
        return [str(n) for n in z['names']], z['boundaries']


def fits(shape):
    """shape: dict with resolution, zDim, numWs (a manifest or the same keys)."""
    return all(shape.get(k) == v for k, v in SHAPE.items())


def check_shape(shape):
    if not fits(shape):
        raise DirectionError(f'--directions {SET_ID}: these boundaries were fitted for NVIDIA\'s StyleGAN2 FFHQ '
                             f'config-f (1024 px, zDim 512, 18 ws); this generator is {shape.get("resolution")} px, '
                             f'zDim {shape.get("zDim")}, {shape.get("numWs")} ws')


def incoming():
    names, B = load_set()
    return [Incoming(n.lower(), LABELS[n], 'interfacegan', 'z', B[i].astype(np.float64), SOURCE.format(name=n),
                     fields={'range': list(RANGE), 'attribute': n}) for i, n in enumerate(names)]


def entries():
    """Manifest direction entries for a pack of that shape (no fitting: Z directions)."""
    from model.directions.entries import PackShape, resolve
    return resolve(incoming(), PackShape(512, 512, 18, 0, 'stylegan2-ffhq-config-f'), log=lambda *a: None)


def write_public_json(path=PUBLIC_JSON):
    doc = {
        'id': SET_ID,
        'title': 'InterFaceGAN++ attributes for StyleGAN2 FFHQ config-f',
        'fits': {**SHAPE, 'generator': "NVIDIA's StyleGAN2 FFHQ config-f (stylegan2-ffhq-config-f.pt / "
                                       "stylegan2-ffhq-1024x1024.pkl)"},
        'note': 'Fitted by their authors for that generator only; unchecked here (no FFHQ weights on our machines). '
                'On any other generator of the same shape they are arbitrary directions.',
        'licence': 'MIT, Copyright (c) 2019 Yujun Shen (genforce/interfacegan)',
        'source': f'https://github.com/genforce/interfacegan/tree/{COMMIT}/boundaries/stylegan2_ffhq_z',
        'directions': entries(),
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    dirs = doc.pop('directions')
    head = json.dumps(doc, indent=1)[:-2]  # without the closing brace: one direction per line follows
    with open(path, 'w') as f:
        f.write(head + ',\n "directions": [\n' + ',\n'.join(json.dumps(d, separators=(',', ':')) for d in dirs) + '\n ]\n}\n')
    return path
