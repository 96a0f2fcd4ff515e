"""Add the optional parts of a model pack to a pack folder written by `python3 -m model.export`:

  * `encoder` graph (image -> f, zplus) exported from an encoder checkpoint (model/nets/encoder.py) for the pack's F block,
  * `classifier` graph (image -> logits) copied from an ONNX file, with `classifier.attributes` in the manifest,
  * labelled edit directions (InterFaceGAN / GANSpace) normalised to the schema's direction entries,
  * sample faces as PNG under `samples/` (held-out faces, never trained on),
  * provenance: licence, weights source, credits (facesjs, Apache-2.0), notes; LICENSE.md and PROVENANCE.md.

Every graph file and weights.bin are re-hashed (sha256, bytes), the manifest is validated against
schema/manifest.schema.json and written atomically. Graphs added here are self-contained ONNX files
(`externalData: false`): they share no weights with the generator graphs.

    /usr/bin/python3 -m model.demo.pack_extras public/models/demo64 --encoder model/checkpoints/encoder64.pt \
        --classifier model/checkpoints/classifier64.onnx --directions model/checkpoints/directions64.json \
        --samples-data data/faces-64 --licence MIT --credit "..."
"""
import argparse
import json
import math
import os
import shutil
import sys

import numpy as np

from model.export.contract_generated import GRAPH_INPUTS, GRAPH_OUTPUTS
from model.export.manifest import PackError, load_schema, pack_bytes, rehash, validate, write_manifest
from model.export.onnx_pack import io_specs

FACESJS_CREDIT = 'Training faces drawn with facesjs 5.0.3 (Apache-2.0, https://github.com/zengm-games/facesjs)'
# every key a manifest direction may have (model/directions/ adds space, wVector, ...)
DIRECTION_KEYS = tuple(load_schema()['definitions']['direction']['properties'])


def rename_io(model, mapping):
    """Rename graph inputs/outputs (and every node reference) in place."""
    g = model.graph
    for v in list(g.input) + list(g.output):
        if v.name in mapping:
            v.name = mapping[v.name]
    for n in g.node:
        for i, name in enumerate(n.input):
            if name in mapping:
                n.input[i] = mapping[name]
        for i, name in enumerate(n.output):
            if name in mapping:
                n.output[i] = mapping[name]


# ---- parts ---------------------------------------------------------------------------------------------------
def add_encoder(pack_dir, manifest, encoder_path, log=print):
    import torch
    from model.nets.encoder import export_encoder_onnx, load_encoder
    enc, meta = load_encoder(encoder_path)
    r, fres = manifest['resolution'], manifest['fBlock']['resolution']
    if enc.size != r or enc.z_dim != manifest['zDim'] or enc.num_ws != manifest['numWs']:
        raise PackError(f'encoder {encoder_path} is for size {enc.size}, zDim {enc.z_dim}, numWs {enc.num_ws}; '
                        f'the pack has {r}, {manifest["zDim"]}, {manifest["numWs"]}')
    if fres not in enc.f_channels:
        raise PackError(f'encoder {encoder_path} has no F head for block {fres} (heads: {sorted(enc.f_channels)})')
    sha = manifest['provenance'].get('checkpointSha256')
    if sha and meta.get('generator_sha256') and meta['generator_sha256'] != sha:
        log(f'warning: encoder was trained on generator {meta["generator_sha256"][:12]}, pack is {sha[:12]}')
    psi, tl = manifest['truncation']['psi'], manifest['truncation']['layers']
    if meta.get('psi') is not None and (abs(meta['psi'] - psi) > 1e-6 or meta.get('trunc_layers') != tl):
        log(f'warning: encoder trained with truncation psi {meta["psi"]} layers {meta.get("trunc_layers")}, '
            f'pack uses psi {psi} layers {tl}')
    path = os.path.join(pack_dir, 'encoder.onnx')
    inputs, outputs = export_encoder_onnx(enc, fres, path)
    if outputs[0]['shape'] != list(manifest['fBlock']['shape']):
        raise PackError(f'encoder f shape {outputs[0]["shape"]} != fBlock.shape {manifest["fBlock"]["shape"]}')
    if outputs[1]['shape'] != [1, manifest['numWs'], manifest['zDim']]:
        raise PackError(f'encoder zplus shape {outputs[1]["shape"]} wrong')
    manifest['graphs']['encoder'] = {'file': 'encoder.onnx', 'sha256': '', 'bytes': 0, 'precision': 'fp32',
                                     'externalData': False, 'inputs': inputs, 'outputs': outputs}
    log(f'  encoder: F head {fres}, {os.path.getsize(path) / 1e6:.2f} MB')
    return meta


def fix_batch_dim(model, batch):
    """Static shapes (contract): a symbolic/unknown first dim of every input and output becomes `batch`."""
    for v in list(model.graph.input) + list(model.graph.output):
        dims = v.type.tensor_type.shape.dim
        if len(dims) and (dims[0].dim_param or dims[0].dim_value <= 0):
            dims[0].Clear()
            dims[0].dim_value = batch
    del model.graph.value_info[:]  # stale intermediate shapes would carry the symbolic dim


def add_classifier(pack_dir, manifest, onnx_path, attributes, log=print, batch=1):
    import onnx
    model = onnx.load(onnx_path)
    fix_batch_dim(model, batch)
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            raise PackError(f'classifier {onnx_path} uses external data; give a self-contained ONNX file')
    ins, outs = io_specs(model)
    if len(ins) != 1 or len(outs) < 1:
        raise PackError(f'classifier must have one input and a logits output (has {len(ins)} inputs, {len(outs)} outputs)')
    (image,), (logits,) = GRAPH_INPUTS['classifier'], GRAPH_OUTPUTS['classifier']
    rename = {}
    if ins[0]['name'] != image:
        rename[ins[0]['name']] = image
    if outs[0]['name'] != logits:
        rename[outs[0]['name']] = logits
    if len(outs) > 1:  # keep only the logits output
        keep = model.graph.output[0]
        del model.graph.output[:]
        model.graph.output.extend([keep])
    if rename:
        rename_io(model, rename)
    ins, outs = io_specs(model)
    R = manifest['resolution']
    shp = ins[0]['shape']
    if len(shp) != 4 or shp[1:] != [3, R, R] or shp[0] < 1:
        raise PackError(f'classifier input shape {shp} is not [N, 3, {R}, {R}] with a static N')
    if outs[0]['shape'][-1] != len(attributes):
        raise PackError(f'classifier has {outs[0]["shape"][-1]} logits, {len(attributes)} attributes given')
    onnx.checker.check_model(model)
    path = os.path.join(pack_dir, 'classifier.onnx')
    onnx.save(model, path)
    manifest['graphs']['classifier'] = {'file': 'classifier.onnx', 'sha256': '', 'bytes': 0, 'precision': 'fp32',
                                        'externalData': False, 'inputs': ins, 'outputs': outs}
    manifest['classifier'] = {'attributes': [normalise_attribute(a) for a in attributes]}
    log(f'  classifier: {len(attributes)} attributes, {os.path.getsize(path) / 1e6:.2f} MB')


def normalise_attribute(a):
    if isinstance(a, str):
        return {'id': a, 'kind': 'binary'}
    out = {'id': str(a.get('id', a.get('name'))), 'kind': a.get('kind', 'binary')}
    acc = a.get('accuracy', a.get('acc'))
    if acc is not None and not (isinstance(acc, float) and math.isnan(acc)):
        out['accuracy'] = float(acc)
    return out


def normalise_direction(d, z_dim, num_ws):
    out = {k: d[k] for k in DIRECTION_KEYS if k in d and d[k] is not None}
    if 'id' not in out:
        raise PackError(f'direction without id: {sorted(d)}')
    out.setdefault('label', out['id'].replace('_', ' '))
    out.setdefault('kind', 'interfacegan')
    v = np.asarray(out.get('vector', []), dtype=np.float64).reshape(-1)
    if v.size != z_dim or not np.all(np.isfinite(v)) or np.linalg.norm(v) == 0:
        raise PackError(f'direction {out["id"]}: vector must be {z_dim} finite numbers, not all zero')
    out['vector'] = [float(x) for x in (v / np.linalg.norm(v))]
    rng = out.get('range', [-3, 3])
    out['range'] = [float(rng[0]), float(rng[1])]
    if 'layers' in out:
        out['layers'] = [int(i) for i in out['layers'] if 0 <= int(i) < num_ws]
    if 'parts' in out:
        out.update(normalise_parts(out['id'], out['parts'], z_dim, num_ws))
    for k in ('classifierAccuracy', 'explainedVariance', 'editStrength'):
        if k in out:
            out[k] = float(out[k])
    return out


def normalise_parts(did, parts, z_dim, num_ws):
    """{parts, vector, layers} of a direction walked per layer group (schema direction.parts): finite vectors of
    length z_dim, scaled so that their squared norms averaged over the layers are 1; layers inside [0, num_ws) and in
    one part each. vector: the longest part's made unit, layers: all of theirs."""
    vs = [np.asarray(p.get('vector', []), dtype=np.float64).reshape(-1) for p in parts]
    if not vs or any(v.size != z_dim or not np.all(np.isfinite(v)) for v in vs):
        raise PackError(f'direction {did}: every part needs a vector of {z_dim} finite numbers')
    sizes = [len(p.get('layers', [])) for p in parts]
    energy = sum(float(v @ v) * n for v, n in zip(vs, sizes)) / max(sum(sizes), 1)
    if energy == 0:
        raise PackError(f'direction {did}: every part is zero')
    scale = 1 / math.sqrt(energy)
    seen, out = set(), []
    for p, v in zip(parts, vs):
        layers = [int(i) for i in p.get('layers', [])]
        if not layers or any(not 0 <= i < num_ws or i in seen for i in layers):
            raise PackError(f'direction {did}: part layers {layers} empty, outside [0, {num_ws}) or in two parts')
        seen.update(layers)
        out.append({'layers': layers, 'vector': [float(x) for x in v * scale]})
    top = max(vs, key=np.linalg.norm)
    return {'parts': out, 'vector': [float(x) for x in top / np.linalg.norm(top)], 'layers': sorted(seen)}


def edit_strengths(doc):
    """{direction id: measured own-attribute change in sigma at +2 sigma} from model/demo/directions.py's stats: the check
    on fresh samples, in context (F fixed, as the app edits then) or, for directions fitted on whole-generator samples
    (--f-res 0, the follow edit mode), the edit measured on those."""
    stats = doc.get('stats', {}) if isinstance(doc, dict) else {}
    out = {}
    for did, st in stats.items():
        edit = st.get('edit') or {}
        check = edit.get('check') or {}
        own = check.get('ownShiftSigma', edit.get('targetShiftSigma'))
        if isinstance(own, (int, float)):
            out[did] = round(float(own), 4)
    return out


def also_moves(doc, labels=None, bar=1 / 3):
    """{direction id: manifest alsoMoves} from model/demo/directions.py's stats: the counted other attribute that moved
    most, on probabilities, when it moved at least `bar` of the own change. Measured on the selection faces (photos
    edited as the app edits them) where the run had them, else on the check samples. labels: {attribute id: label}."""
    stats = doc.get('stats', {}) if isinstance(doc, dict) else {}
    out = {}
    for did, st in stats.items():
        edit = st.get('edit') or {}
        sc = edit.get('selection') or edit.get('check') or {}
        head, ratio = sc.get('probWorstOther'), sc.get('probWorstOtherRatio')
        if isinstance(head, str) and isinstance(ratio, (int, float)) and ratio >= bar:
            out[did] = [{'attribute': head, 'label': (labels or {}).get(head, head.replace('_', ' ')),
                         'ratio': round(float(ratio), 3)}]
    return out


def attribute_labels(meta_path):
    """{attribute id: label} from a classifier's meta JSON (model/nets/classifier.py), when it has labels."""
    if not meta_path:
        return {}
    with open(meta_path) as f:
        m = json.load(f)
    attrs = m.get('attributes', []) if isinstance(m, dict) else m
    return {a['id']: a['label'] for a in attrs if isinstance(a, dict) and 'id' in a and 'label' in a}


def load_directions_doc(path):
    with open(path) as f:
        doc = json.load(f)
    dirs = doc['directions'] if isinstance(doc, dict) else doc
    return doc, dirs


def attributes_from(doc, meta_path):
    if meta_path:
        with open(meta_path) as f:
            m = json.load(f)
        if isinstance(m, dict):  # model/nets/classifier.py writes manifestAttributes (schema keys) and attributes
            return m.get('manifestAttributes', m.get('attributes'))
        return m
    if isinstance(doc, dict):
        if 'attributes' in doc:
            return doc['attributes']
        if isinstance(doc.get('classifier'), dict) and 'attributes' in doc['classifier']:
            return doc['classifier']['attributes']
    return None


def add_samples(pack_dir, manifest, data_dir, n=8, offset=0, log=print):
    from PIL import Image
    arr = np.load(os.path.join(data_dir, 'heldout_images.npy'), mmap_mode='r')
    R = manifest['resolution']
    sdir = os.path.join(pack_dir, 'samples')
    if os.path.isdir(sdir):
        shutil.rmtree(sdir)
    os.makedirs(sdir)
    names = []
    for i in range(offset, offset + n):
        img = np.asarray(arr[i])
        if img.shape[:2] != (R, R):
            img = np.asarray(Image.fromarray(img).resize((R, R), Image.LANCZOS))
        name = f'samples/heldout-{i:04d}.png'
        Image.fromarray(img).save(os.path.join(pack_dir, name), optimize=True)
        names.append(name)
    manifest['samples'] = names
    log(f'  samples: {n} held-out faces ({data_dir} heldout {offset}..{offset + n - 1})')


def write_docs(pack_dir, manifest, extra=None):
    prov = manifest['provenance']
    credits = '\n'.join(f'- {c}' for c in prov.get('credits', []))
    lic = f"""# Licence of the `{manifest['name']}` model pack

- **Weights** (every ONNX graph and `weights.bin` in this folder): {prov['licence']}.
  They were trained from scratch by F/Z+ Studio; no third-party model weights are included.
- **Sample images** (`samples/*.png`) and the training images were drawn with
  [facesjs](https://github.com/zengm-games/facesjs) (Apache License 2.0, Copyright Jeremy Scheff).
  facesjs generated the drawings; no photograph of a real person is involved.

Credits:
{credits}
"""
    with open(os.path.join(pack_dir, 'LICENSE.md'), 'w') as f:
        f.write(lic)
    graphs = '\n'.join(f"| `{k}` | `{g['file']}` | {g['bytes'] / 1e3:.0f} kB | {'yes' if g.get('externalData') else 'no'} |"
                       for k, g in manifest['graphs'].items())
    extra = extra or {}
    lines = [f"# Provenance of the `{manifest['name']}` model pack", '',
             f"- Generator: StyleGAN2 ({manifest['generator']['source']} layout), {manifest['resolution']} px, "
             f"zDim {manifest['zDim']}, numWs {manifest['numWs']}, channels {manifest['generator'].get('channels')}.",
             f"- Weights source: {prov['weightsSource']}" + (f" (sha256 `{prov['checkpointSha256']}`)" if prov.get('checkpointSha256') else ''),
             f"- F block: {manifest['fBlock']['resolution']}x{manifest['fBlock']['resolution']} "
             f"(shape {manifest['fBlock']['shape']}, firstWs {manifest['fBlock']['firstWs']}); truncation psi "
             f"{manifest['truncation']['psi']} on layers < {manifest['truncation']['layers']}.",
             f"- Loss: {manifest['loss']['perceptual']}, default weights {manifest['loss']['defaultWeights']}.",
             f"- Exported by {prov.get('exporter', '?')} at {prov.get('exportedAt', '?')}; extras by model/demo/pack_extras.py.",
             ]
    for k, v in extra.items():
        lines.append(f'- {k}: {v}')
    lines += ['', '| graph | file | size | in weights.bin |', '|---|---|---|---|', graphs, '',
              f"Whole pack: {pack_bytes(pack_dir) / 1e6:.1f} MB.", '']
    if prov.get('notes'):
        lines += ['Notes: ' + prov['notes'], '']
    with open(os.path.join(pack_dir, 'PROVENANCE.md'), 'w') as f:
        f.write('\n'.join(lines))


def add_extras(pack_dir, encoder=None, classifier=None, classifier_meta=None, directions=None, samples_data=None,
               n_samples=8, samples_offset=0, licence=None, weights_source=None, credits=(), notes=None, title=None,
               description=None, max_mb=None, docs=True, doc_extra=None, classifier_batch=1, edit_mode=None,
               f_residual=None, log=print):
    mpath = os.path.join(pack_dir, 'manifest.json')
    if not os.path.isfile(mpath):
        raise PackError(f'{mpath} not found: export the pack first (python3 -m model.export)')
    with open(mpath) as f:
        manifest = json.load(f)
    validate(manifest)
    if title:
        manifest['title'] = title
    if description:
        manifest['description'] = description
    if encoder:
        add_encoder(pack_dir, manifest, encoder, log)
    if edit_mode or f_residual is not None:
        # manifest.editing: how the app's sliders treat F by default, as measured for this pack (model.fidelity)
        editing = dict(manifest.get('editing', {}))
        if edit_mode:
            if edit_mode == 'follow' and 'features' not in manifest['graphs']:
                raise PackError('edit mode "follow" needs the features graph, which this pack lacks')
            editing['fMode'] = edit_mode
        if f_residual is not None:
            editing['fResidual'] = float(f_residual)
        manifest['editing'] = editing
    doc = None
    if directions:
        doc, dirs = load_directions_doc(directions)
        # what the directions run measured, where a direction does not state it itself
        measured = {'editStrength': edit_strengths(doc), 'alsoMoves': also_moves(doc, attribute_labels(classifier_meta))}
        dirs = [{**{k: m[d['id']] for k, m in measured.items() if d.get('id') in m}, **d} for d in dirs]
        manifest['directions'] = [normalise_direction(d, manifest['zDim'], manifest['numWs']) for d in dirs]
        log(f'  directions: {len(manifest["directions"])} ({", ".join(d["id"] for d in manifest["directions"])})')
    if classifier:
        attrs = attributes_from(doc, classifier_meta)
        if not attrs:
            raise PackError('classifier given without an attribute list (--classifier-meta or in the directions file)')
        add_classifier(pack_dir, manifest, classifier, attrs, log, classifier_batch)
    if samples_data:
        add_samples(pack_dir, manifest, samples_data, n_samples, samples_offset, log)
    prov = manifest['provenance']
    if licence:
        prov['licence'] = licence
    if weights_source:
        prov['weightsSource'] = weights_source
    cr = list(prov.get('credits', []))
    for c in credits:
        if c not in cr:
            cr.append(c)
    if cr:
        prov['credits'] = cr
    if notes:
        prov['notes'] = (prov.get('notes', '') + ' ' + notes).strip()
    rehash(pack_dir, manifest)
    write_manifest(pack_dir, manifest)
    if docs:
        write_docs(pack_dir, manifest, doc_extra)
    total = pack_bytes(pack_dir)
    log(f'pack {pack_dir}: {len(manifest["graphs"])} graphs, {total / 1e6:.1f} MB')
    if max_mb and total > max_mb * 1e6:
        raise PackError(f'pack is {total / 1e6:.1f} MB, over the {max_mb} MB limit')
    return manifest


def verify_extras(pack_dir, log=print):
    """Run the extra graphs in onnxruntime-node (model/runtime/ort_node.py) and compare with the torch interpretation of
    the same files (model/runtime/onnx_torch.py). Returns max abs differences; skips when node/onnxruntime-node is absent."""
    import torch
    from model.runtime import ort_node
    from model.runtime.onnx_torch import OnnxTorch
    if not ort_node.available():
        log('  verify: onnxruntime-node not available, skipped')
        return {}
    with open(os.path.join(pack_dir, 'manifest.json')) as f:
        manifest = json.load(f)
    rng = np.random.default_rng(0)
    out = {}
    for key in ('encoder', 'classifier'):
        g = manifest['graphs'].get(key)
        if not g:
            continue
        path = os.path.join(pack_dir, g['file'])
        feeds = {i['name']: rng.uniform(-1, 1, i['shape']).astype(np.float32) for i in g['inputs']}
        res = ort_node.run([(path, feeds)])[0]['outputs']
        ref = OnnxTorch(path).run({k: torch.from_numpy(v) for k, v in feeds.items()})
        for o in g['outputs']:
            a, b = res[o['name']], ref[o['name']].numpy()
            if list(a.shape) != o['shape']:
                raise PackError(f'{key}: onnxruntime output {o["name"]} has shape {list(a.shape)}, manifest {o["shape"]}')
            out[f'{key}.{o["name"]}'] = float(np.abs(a - b).max())
    log('  verify (onnxruntime-node vs torch): ' + ', '.join(f'{k} {v:.1e}' for k, v in out.items()))
    bad = {k: v for k, v in out.items() if v > 1e-3}
    if bad:
        raise PackError(f'onnxruntime-node disagrees with torch: {bad}')
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog='python3 -m model.demo.pack_extras', description=__doc__.split('\n')[0])
    ap.add_argument('pack_dir')
    ap.add_argument('--encoder', help='encoder checkpoint (model/demo/train_encoder.py)')
    ap.add_argument('--classifier', help='classifier ONNX (image [N,3,R,R] -> logits [N,A])')
    ap.add_argument('--classifier-batch', type=int, default=1, help='static batch N of the classifier graph')
    ap.add_argument('--classifier-meta', help='JSON {"attributes": [{"id", "kind", "accuracy"}]} (else from --directions)')
    ap.add_argument('--directions', help='JSON list of directions, or {"directions": [...], "attributes": [...]}')
    ap.add_argument('--samples-data', help='data folder with heldout_images.npy')
    ap.add_argument('--samples', type=int, default=8)
    ap.add_argument('--samples-offset', type=int, default=0)
    ap.add_argument('--licence')
    ap.add_argument('--weights-source')
    ap.add_argument('--credit', action='append', default=[])
    ap.add_argument('--facesjs-credit', action='store_true', help='add the facesjs (Apache-2.0) credit')
    ap.add_argument('--notes')
    ap.add_argument('--title')
    ap.add_argument('--description')
    ap.add_argument('--doc-extra', action='append', default=[], help='KEY=VALUE line for PROVENANCE.md')
    ap.add_argument('--max-mb', type=float, default=None)
    ap.add_argument('--no-docs', action='store_true')
    ap.add_argument('--verify', action='store_true', help='run the extra graphs in onnxruntime-node and compare')
    ap.add_argument('--edit-mode', choices=['fixed', 'follow'], help="manifest editing.fMode: the app's default F mode")
    ap.add_argument('--f-residual', type=float, help='manifest editing.fResidual: measured |F_inv - F_gen| / |F_inv|')
    a = ap.parse_args(argv)
    credits = list(a.credit) + ([FACESJS_CREDIT] if a.facesjs_credit else [])
    extra = dict(kv.split('=', 1) for kv in a.doc_extra)
    try:
        add_extras(a.pack_dir, a.encoder, a.classifier, a.classifier_meta, a.directions, a.samples_data, a.samples,
                   a.samples_offset, a.licence, a.weights_source, credits, a.notes, a.title, a.description, a.max_mb,
                   docs=not a.no_docs, doc_extra=extra, classifier_batch=a.classifier_batch,
                   edit_mode=a.edit_mode, f_residual=a.f_residual)
        if a.verify:
            verify_extras(a.pack_dir)
    except PackError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
