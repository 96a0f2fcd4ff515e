/** Truncation in W: w_i' = wAvg + psi (w_i - wAvg) for layers i < layers. In place on a [numWs, wDim] array. */
export function truncateInPlace(wplus: Float32Array, wDim: number, wAvg: ArrayLike<number>, psi: number, layers: number): Float32Array {
  if (wAvg.length !== wDim) throw new Error(`truncation: wAvg length ${wAvg.length} != wDim ${wDim}`);
  const numWs = wplus.length / wDim;
  const L = Math.min(layers, numWs);
  for (let i = 0; i < L; i++) {
    const off = i * wDim;
    for (let j = 0; j < wDim; j++) wplus[off + j] = wAvg[j] + psi * (wplus[off + j] - wAvg[j]);
  }
  return wplus;
}
