/** Adam (Kingma & Ba) over a flat Float32Array, in place. Pure; no DOM. */
export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export interface AdamState {
  m: Float32Array;
  v: Float32Array;
  t: number;
}

export function adamInit(size: number): AdamState {
  return { m: new Float32Array(size), v: new Float32Array(size), t: 0 };
}

/** One Adam step: param -= lr * mhat / (sqrt(vhat) + eps). Mutates param and state. */
export function adamStep(param: Float32Array, grad: ArrayLike<number>, state: AdamState, opts: AdamOptions): void {
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = opts;
  if (grad.length !== param.length || state.m.length !== param.length) {
    throw new Error(`adamStep: size mismatch (param ${param.length}, grad ${grad.length}, state ${state.m.length})`);
  }
  state.t += 1;
  const bc1 = 1 - Math.pow(beta1, state.t);
  const bc2 = 1 - Math.pow(beta2, state.t);
  const stepSize = lr / bc1;
  const sqrtBc2 = Math.sqrt(bc2);
  const { m, v } = state;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i];
    const mi = (m[i] = beta1 * m[i] + (1 - beta1) * g);
    const vi = (v[i] = beta2 * v[i] + (1 - beta2) * g * g);
    param[i] -= (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
  }
}

export function cloneAdamState(s: AdamState): AdamState {
  return { m: s.m.slice(), v: s.v.slice(), t: s.t };
}
