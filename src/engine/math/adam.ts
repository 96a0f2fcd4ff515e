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

export const ADAM_BETA1 = 0.9;
export const ADAM_BETA2 = 0.999;
export const ADAM_EPS = 1e-8;

/**
 * The per-step scalars of step t (1-based): stepSize = lr / (1 - beta1^t), sqrtBc2 = sqrt(1 - beta2^t), so that
 * param -= stepSize * m / (sqrt(v) / sqrtBc2 + eps). The Adam graph (public/graphs/adam.onnx) takes them as inputs.
 */
export function adamScalars(t: number, lr: number, beta1 = ADAM_BETA1, beta2 = ADAM_BETA2): { stepSize: number; sqrtBc2: number } {
  return { stepSize: lr / (1 - Math.pow(beta1, t)), sqrtBc2: Math.sqrt(1 - Math.pow(beta2, t)) };
}

/** One Adam step: param -= lr * mhat / (sqrt(vhat) + eps). Mutates param and state. */
export function adamStep(param: Float32Array, grad: ArrayLike<number>, state: AdamState, opts: AdamOptions): void {
  const { lr, beta1 = ADAM_BETA1, beta2 = ADAM_BETA2, eps = ADAM_EPS } = opts;
  if (grad.length !== param.length || state.m.length !== param.length) {
    throw new Error(`adamStep: size mismatch (param ${param.length}, grad ${grad.length}, state ${state.m.length})`);
  }
  state.t += 1;
  const { stepSize, sqrtBc2 } = adamScalars(state.t, lr, beta1, beta2);
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
